"""A buffer between the hub's synchronous presence callback and an async consumer."""

from __future__ import annotations

import asyncio
from typing import final

from ._values import PresenceChange

__all__ = ["PresenceFeed"]


@final
class PresenceFeed:
    """Presence changes queued for a task, with at most one pending change per user.

    Pass ``feed.push`` as the hub's ``on_presence`` and consume the changes in a task
    with ``async for change in feed`` (for example to look up followers and publish
    friend status events). ``push`` never blocks.

    A change that undoes the user's pending one cancels it: a device that goes offline
    and comes back before the consumer looked produces nothing. The consumer therefore
    sees, per user, strictly alternating changes that end in the user's current state,
    and the feed holds at most one change per user however fast users flap.

    Not thread-safe: push and consume from one event loop thread.
    """

    __slots__ = ("_closed", "_pending", "_waiters")

    def __init__(self) -> None:
        # user -> online flag of the change not yet consumed; insertion order is the
        # order changes are handed out.
        self._pending: dict[str, bool] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False

    def push(self, change: PresenceChange) -> None:
        """Queue ``change``, or cancel the user's pending change that it undoes.

        Ignored after ``close()``.
        """
        if self._closed:
            return
        pending = self._pending.pop(change.user, None)
        if pending is None or pending == change.online:
            # A repeat of the pending state cannot come from a hub, whose changes
            # alternate; keeping the latest is the safe reading of it.
            self._pending[change.user] = change.online
            self._wake_waiters()

    def drain(self) -> list[PresenceChange]:
        """Take every pending change without waiting, oldest first."""
        changes = [
            PresenceChange(user=user, online=online) for user, online in self._pending.items()
        ]
        self._pending.clear()
        return changes

    def close(self) -> None:
        """Stop the feed: iteration ends once the pending changes are consumed."""
        self._closed = True
        self._wake_waiters()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    def __len__(self) -> int:
        return len(self._pending)

    def __aiter__(self) -> PresenceFeed:
        return self

    async def __anext__(self) -> PresenceChange:
        """Wait for the next change; stop when the feed is closed and empty."""
        while True:
            if self._pending:
                user = next(iter(self._pending))
                return PresenceChange(user=user, online=self._pending.pop(user))
            if self._closed:
                raise StopAsyncIteration

            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)

    def _wake_waiters(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
