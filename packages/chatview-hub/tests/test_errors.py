"""The error tree and its messages."""

from __future__ import annotations

import pytest

from chatview_hub import (
    BackendBindingError,
    BackendStateError,
    BackendUnavailableError,
    ConnectionClosedError,
    ConnectionOverflowError,
    HubClosedError,
    HubError,
    InvalidUserError,
    MissingDependencyError,
    WouldBlockError,
)


class TestErrorTree:
    @pytest.mark.parametrize(
        ("error", "bases"),
        [
            (ConnectionClosedError, (HubError,)),
            (ConnectionOverflowError, (ConnectionClosedError, HubError)),
            (WouldBlockError, (HubError,)),
            (HubClosedError, (HubError, RuntimeError)),
            (InvalidUserError, (HubError, ValueError)),
            (BackendBindingError, (HubError, RuntimeError)),
            (BackendStateError, (HubError, RuntimeError)),
            (BackendUnavailableError, (HubError, ConnectionError)),
            (MissingDependencyError, (HubError, ImportError)),
        ],
    )
    def test_subclasses(self, error: type[Exception], bases: tuple[type[Exception], ...]) -> None:
        """Each error subclasses the hub base and the fitting builtin."""
        for base in bases:
            assert issubclass(error, base)


class TestErrorMessages:
    def test_closed_names_reason(self) -> None:
        """The close message names the reason and what to do."""
        error = ConnectionClosedError("replaced")

        assert "replaced" == error.reason
        assert (
            "connection closed (reason 'replaced'); open a new one to receive events again"
            == str(error)
        )

    def test_overflow_names_bound(self) -> None:
        """The overflow message names the queue bound and the catch-up step."""
        error = ConnectionOverflowError("slow_consumer", 256)

        assert (
            "connection closed because its queue of 256 events was full "
            "(reason 'slow_consumer'); reconnect and catch up from the database" == str(error)
        )

    def test_invalid_user_shortened(self) -> None:
        """A very long bad key is cut in the message but kept whole on the error."""
        error = InvalidUserError("x" * 500)

        assert "x" * 500 == error.user
        assert len(str(error)) < 250

    def test_missing_dependency_names_extra(self) -> None:
        """The missing-dependency message names the module and the extra to install."""
        error = MissingDependencyError("NatsBackend", "nats", "nats")

        assert (
            "NatsBackend needs the 'nats' package, which is not installed; "
            "install chatview-hub[nats]" == str(error)
        )
        assert ("NatsBackend", "nats", "nats") == (error.backend, error.module, error.extra)
