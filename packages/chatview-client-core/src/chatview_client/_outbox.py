"""The outbox as a pure state machine: it decides what to send and when, and does no I/O.

The worker in `_client` feeds it what happened (an item was added, a call succeeded or
failed, the connection came or went) and calls `next_action` for the next step; it returns values
describing the decision, which the worker carries out with gRPC and the cache.

Transitions of one item::

    (new) ──add──────────────────────────────────────────► QUEUED
    QUEUED ──next_action: head of queue, due, online──────► SENDING
    SENDING ──delivered───────────────────────────────────► (removed)
    SENDING ──failed, transient, attempts < max───────────► QUEUED, due after a backoff
    SENDING ──failed, transient, attempts = max───────────► FAILED
    SENDING ──failed, permanent───────────────────────────► FAILED
    SENDING ──interrupted (closed mid-call)───────────────► QUEUED, due at once
    FAILED ──retry────────────────────────────────────────► QUEUED, attempts reset
    QUEUED, FAILED ──discard──────────────────────────────► (removed)
    QUEUED ──fail_all (account banned)────────────────────► FAILED

Invariants:

1. At most one item is SENDING, and only the first QUEUED item in queue order may
   become SENDING, so the server receives messages in the order they were written; a
   FAILED item does not hold up the ones behind it.
2. An item keeps its client_message_id for life, so every retry, after a restart too,
   is the same request to the server, which stores it once.
3. Nothing is sent while offline, and offline time costs no attempts. Coming online
   makes every QUEUED item due at once.
4. Every wait is between the backoff's initial and maximum delay.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Final

import attrs

from ._backoff import Backoff
from ._values import OutboxEntry, OutboxState

__all__ = [
    "PERMANENT_CODES",
    "FailureKind",
    "OutboxMachine",
    "SendNow",
    "Wait",
    "classify_failure",
]

PERMANENT_CODES: Final = frozenset(
    {
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "DATA_LOSS",
    }
)
"""Status codes that no retry of the same request can change."""

# gRPC's words for a message above the size limit, on either side of the channel.
_TOO_LARGE: Final = "message larger than max"


class FailureKind(enum.Enum):
    """The effect of a failed attempt on its item."""

    TRANSIENT = "transient"
    """Retry after a backoff, up to the attempt limit."""
    PERMANENT = "permanent"
    """Fail the item now."""


def classify_failure(code: str, detail: str = "") -> FailureKind:
    """Return whether a gRPC status code (by name) is worth retrying.

    UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, CANCELLED, INTERNAL,
    UNKNOWN and UNAUTHENTICATED (after the client logged in again) are transient;
    `PERMANENT_CODES` are not, and neither is a request above gRPC's message size
    limit, which is RESOURCE_EXHAUSTED too but fails the same way every time.

    Args:
        code: the status code's name.
        detail: the status message, which tells a size limit from a rate limit.
    """
    if code in PERMANENT_CODES:
        return FailureKind.PERMANENT
    if code == "RESOURCE_EXHAUSTED" and _TOO_LARGE in detail:
        return FailureKind.PERMANENT
    return FailureKind.TRANSIENT


@attrs.frozen
class SendNow:
    """Send this item now; report back with `delivered`, `failed` or `interrupted`."""

    entry: OutboxEntry


@attrs.frozen
class Wait:
    """Nothing to send before `until` (a `now` value), or before something changes when
    `until` is None."""

    until: float | None


class OutboxMachine:
    """Decides the outbox's next step; keeps entries in memory and persists nothing.

    Times are whatever clock the caller passes as `now` (the worker uses the event loop's
    monotonic clock); `random` arguments are numbers in [0, 1) for jitter.

    Not thread-safe; the client calls it from one event loop.
    """

    def __init__(
        self,
        entries: Iterable[OutboxEntry] = (),
        *,
        backoff: Backoff,
        max_attempts: int,
        online: bool = False,
    ) -> None:
        if max_attempts < 1:
            msg = f"max_attempts must be at least 1, got {max_attempts}"
            raise ValueError(msg)
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._online = online
        self._entries: dict[str, OutboxEntry] = {}
        self._due: dict[str, float] = {}
        for entry in sorted(entries, key=lambda item: item.position):
            # An item that was in flight when the process stopped is queued again: the
            # server deduplicates by client_message_id if the earlier call got through.
            if entry.state is OutboxState.SENDING:
                entry = attrs.evolve(entry, state=OutboxState.QUEUED)
            self._entries[entry.client_message_id] = entry
            self._due[entry.client_message_id] = 0.0

    @property
    def entries(self) -> tuple[OutboxEntry, ...]:
        """Every item, in queue order."""
        return tuple(sorted(self._entries.values(), key=lambda item: item.position))

    @property
    def online(self) -> bool:
        """Whether the machine may send."""
        return self._online

    def get(self, client_message_id: str) -> OutboxEntry | None:
        """Return the item with this id, or None."""
        return self._entries.get(client_message_id)

    def next_position(self) -> int:
        """Return the position for a new item: after every existing one."""
        return max((item.position for item in self._entries.values()), default=0) + 1

    def add(self, entry: OutboxEntry) -> OutboxEntry:
        """Queue a new item, due at once.

        Raises:
            ValueError: an item with the same client_message_id exists.
        """
        if entry.client_message_id in self._entries:
            msg = f"outbox already holds client_message_id {entry.client_message_id}"
            raise ValueError(msg)
        entry = attrs.evolve(entry, state=OutboxState.QUEUED)
        self._entries[entry.client_message_id] = entry
        self._due[entry.client_message_id] = 0.0
        return entry

    def set_online(self, online: bool) -> None:
        """Record whether the connection is up; coming up makes every queued item due."""
        if online and not self._online:
            for key, entry in self._entries.items():
                if entry.state is OutboxState.QUEUED:
                    self._due[key] = 0.0
        self._online = online

    def next_action(self, now: float) -> SendNow | Wait:
        """Return what to do now; a SendNow moves its item to SENDING."""
        if not self._online:
            return Wait(None)
        queued: OutboxEntry | None = None
        for entry in self.entries:
            if entry.state is OutboxState.SENDING:
                return Wait(None)
            if queued is None and entry.state is OutboxState.QUEUED:
                queued = entry
        if queued is None:
            return Wait(None)
        due = self._due[queued.client_message_id]
        if due > now:
            return Wait(due)
        sending = attrs.evolve(queued, state=OutboxState.SENDING)
        self._entries[sending.client_message_id] = sending
        return SendNow(sending)

    def delivered(self, client_message_id: str) -> OutboxEntry:
        """The server stored the item: remove it and return its last state.

        Raises:
            KeyError: no such item.
        """
        entry = self._entries.pop(client_message_id)
        del self._due[client_message_id]
        return entry

    def failed(
        self,
        client_message_id: str,
        kind: FailureKind,
        error: str,
        *,
        now: float,
        random: float,
    ) -> OutboxEntry:
        """Count a failed attempt, then queue the item again or fail it.

        Returns:
            The item's new state: QUEUED (due after a backoff) or FAILED.

        Raises:
            KeyError: no such item.
        """
        entry = self._entries[client_message_id]
        attempts = entry.attempts + 1
        if kind is FailureKind.PERMANENT or attempts >= self._max_attempts:
            updated = attrs.evolve(
                entry, state=OutboxState.FAILED, attempts=attempts, last_error=error
            )
        else:
            updated = attrs.evolve(
                entry, state=OutboxState.QUEUED, attempts=attempts, last_error=error
            )
            self._due[client_message_id] = now + self._backoff.delay(attempts, random)
        self._entries[client_message_id] = updated
        return updated

    def interrupted(self, client_message_id: str) -> OutboxEntry:
        """Queue the item again after its call was abandoned (the client is closing).

        The attempt is not counted, and the next session sends the item first.

        Raises:
            KeyError: no such item.
        """
        entry = attrs.evolve(self._entries[client_message_id], state=OutboxState.QUEUED)
        self._entries[client_message_id] = entry
        self._due[client_message_id] = 0.0
        return entry

    def retry(self, client_message_id: str) -> OutboxEntry:
        """Queue a FAILED item again, with a fresh attempt budget and the same id.

        Raises:
            KeyError: no such item.
            ValueError: the item is not FAILED.
        """
        entry = self._entries[client_message_id]
        if entry.state is not OutboxState.FAILED:
            msg = (
                f"outbox item {client_message_id} is {entry.state.value}, not failed; "
                "only failed items can be retried"
            )
            raise ValueError(msg)
        updated = attrs.evolve(entry, state=OutboxState.QUEUED, attempts=0, last_error=None)
        self._entries[client_message_id] = updated
        self._due[client_message_id] = 0.0
        return updated

    def discard(self, client_message_id: str) -> OutboxEntry:
        """Remove a QUEUED or FAILED item and return it.

        Raises:
            KeyError: no such item.
            ValueError: the item is SENDING; its call may still store it.
        """
        entry = self._entries[client_message_id]
        if entry.state is OutboxState.SENDING:
            msg = (
                f"outbox item {client_message_id} is being sent right now; wait for the "
                "call to finish, then discard it if it failed"
            )
            raise ValueError(msg)
        del self._entries[client_message_id]
        del self._due[client_message_id]
        return entry

    def fail_all(self, error: str) -> list[OutboxEntry]:
        """Fail every QUEUED item (the account was banned) and return them."""
        failed = []
        for key, entry in list(self._entries.items()):
            if entry.state is OutboxState.QUEUED:
                updated = attrs.evolve(entry, state=OutboxState.FAILED, last_error=error)
                self._entries[key] = updated
                failed.append(updated)
        return failed
