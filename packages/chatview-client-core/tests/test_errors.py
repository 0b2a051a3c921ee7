"""Every gRPC status code maps to its own typed error."""

from __future__ import annotations

import grpc
import pytest

import chatview_client as cv

EXPECTED = {
    grpc.StatusCode.CANCELLED: cv.CallCancelledError,
    grpc.StatusCode.UNKNOWN: cv.UnknownServerError,
    grpc.StatusCode.INVALID_ARGUMENT: cv.InvalidArgumentError,
    grpc.StatusCode.DEADLINE_EXCEEDED: cv.DeadlineExceededError,
    grpc.StatusCode.NOT_FOUND: cv.NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: cv.AlreadyExistsError,
    grpc.StatusCode.PERMISSION_DENIED: cv.PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: cv.ResourceExhaustedError,
    grpc.StatusCode.FAILED_PRECONDITION: cv.FailedPreconditionError,
    grpc.StatusCode.ABORTED: cv.AbortedError,
    grpc.StatusCode.OUT_OF_RANGE: cv.OutOfRangeError,
    grpc.StatusCode.UNIMPLEMENTED: cv.UnimplementedError,
    grpc.StatusCode.INTERNAL: cv.InternalServerError,
    grpc.StatusCode.UNAVAILABLE: cv.UnavailableError,
    grpc.StatusCode.DATA_LOSS: cv.DataLossError,
    grpc.StatusCode.UNAUTHENTICATED: cv.UnauthenticatedError,
}


def _aio_error(code: grpc.StatusCode, details: str = "details") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details, debug_error_string=""
    )


class TestRpcErrorFrom:
    def test_every_code_mapped(self) -> None:
        """Each status except OK has an entry, so none falls back by accident."""
        assert {code for code in grpc.StatusCode if code is not grpc.StatusCode.OK} == set(EXPECTED)

    @pytest.mark.parametrize(("code", "error_class"), list(EXPECTED.items()))
    def test_maps_code(self, code: grpc.StatusCode, error_class: type[cv.RpcError]) -> None:
        """The error has the code's class and names the code."""
        error = cv.rpc_error_from(_aio_error(code), method="SendMessage")

        assert type(error) is error_class
        assert code.name == error.code

    def test_message(self) -> None:
        """The message names the method, the code and the server's details."""
        error = cv.rpc_error_from(
            _aio_error(grpc.StatusCode.NOT_FOUND, "no such user"), method="AddFriend"
        )

        assert "AddFriend failed with NOT_FOUND: no such user" == str(error)

    def test_details_kept(self) -> None:
        """The server's details and the method stay readable as attributes."""
        error = cv.rpc_error_from(_aio_error(grpc.StatusCode.INTERNAL, "boom"), method="Login")

        assert ("boom", "Login") == (error.details, error.method)

    def test_no_code(self) -> None:
        """An error without a status is UNKNOWN."""
        error = cv.rpc_error_from(grpc.RpcError())

        assert isinstance(error, cv.UnknownServerError)

    def test_chained(self) -> None:
        """Raised ``from`` the gRPC error, the original stays attached."""
        original = _aio_error(grpc.StatusCode.UNAVAILABLE)
        with pytest.raises(cv.UnavailableError) as caught:
            raise cv.rpc_error_from(original) from original

        assert caught.value.__cause__ is original


class TestHierarchy:
    @pytest.mark.parametrize(
        ("error_class", "builtin"),
        [
            (cv.InvalidArgumentError, ValueError),
            (cv.DeadlineExceededError, TimeoutError),
            (cv.NotFoundError, LookupError),
            (cv.PermissionDeniedError, PermissionError),
            (cv.UnauthenticatedError, PermissionError),
            (cv.UnavailableError, ConnectionError),
            (cv.UnimplementedError, NotImplementedError),
            (cv.OutOfRangeError, ValueError),
            (cv.ConfigError, ValueError),
            (cv.InvalidMessageError, ValueError),
            (cv.ClientStateError, RuntimeError),
            (cv.OutboxItemNotFoundError, LookupError),
            (cv.ConnectionFailedError, ConnectionError),
        ],
    )
    def test_builtin(self, error_class: type[Exception], builtin: type[Exception]) -> None:
        """Each error is also the builtin that fits."""
        assert issubclass(error_class, builtin)
        assert issubclass(error_class, cv.ChatViewError)

    def test_cache_errors(self) -> None:
        """Cache errors share one base."""
        assert issubclass(cv.CacheVersionError, cv.CacheError)
        assert issubclass(cv.CacheCorruptedError, cv.CacheError)

    def test_session_ended_reason(self) -> None:
        """SessionEndedError carries the server's reason."""
        assert "account_banned" == cv.SessionEndedError("banned", reason="account_banned").reason
