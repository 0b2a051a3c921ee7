"""Shared state of the services: configuration, store, hub, rate limits and background tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, final

import structlog

from chatview_hub import Hub, HubBackend, PresenceChange, PresenceFeed
from chatview_proto import events_pb2
from chatview_store_pg import Store

from ._config import ServerConfig
from ._ratelimit import RateLimiter

__all__ = ["Runtime"]

_log = structlog.get_logger("chatview_server")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@final
class Runtime:
    """The state of one running server process.

    Background work (presence announcements, cleanup) runs in tasks that `spawn`
    tracks, so `close` can end every one of them.
    """

    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        *,
        backend: HubBackend[events_pb2.ServerEvent] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.presence_feed = PresenceFeed()
        self.hub: Hub[events_pb2.ServerEvent] = Hub(
            max_queue_size=config.event_queue_size,
            on_presence=self.presence_feed.push,
            backend=backend,
        )
        self.cross_process = backend is not None
        """True when a backend carries events to other server processes."""
        # The bucket contains one minute's calls, so a client may log in that many
        # times at once and then at the sustained rate.
        self.login_limiter = RateLimiter(
            config.login_rate_per_minute / 60, max(1.0, config.login_rate_per_minute)
        )
        self.send_limiter = RateLimiter(config.send_rate_per_second, config.send_burst)
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coroutine` as a tracked background task; its failure is logged."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("server.task.failed", task=task.get_name(), exc_info=task.exception())

    def start_background_tasks(self) -> None:
        """Start presence announcements and the periodic cleanup.

        Presence between processes is healed by the cross-process backend itself
        (heartbeats every third of ``presence_heal_interval``); one process needs none.
        """
        self._presence_task = self.spawn(self._announce_presence_changes(), "presence")
        self.spawn(self._clean_up_periodically(), "cleanup")

    async def close(self) -> None:
        """End every stream and background task. The store stays open.

        Presence changes already queued are still announced, so friends see the
        users of this process go offline.
        """
        self.hub.close()
        self.presence_feed.close()
        presence_task = getattr(self, "_presence_task", None)
        if presence_task is not None:
            try:
                async with asyncio.timeout(5):
                    await asyncio.shield(presence_task)
            except TimeoutError:
                _log.warning("presence.drain_timed_out")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- presence ---------------------------------------------------------------------

    async def _announce_presence_changes(self) -> None:
        async for change in self.presence_feed:
            try:
                await self.announce_presence(change)
            except Exception:
                _log.exception(
                    "presence.announce_failed", user=change.user[:8], online=change.online
                )

    async def announce_presence(self, change: PresenceChange) -> int:
        """Send ``friend_status`` to the online users who added `change.user`.

        Each gets the alias they gave the user. Returns the number of users sent the event.
        """
        followers = await self.store.list_followers(change.user)
        told = 0
        for follower in followers:
            # Only followers with a live stream can receive the event, so skipping the
            # others saves a contact-list read each. Another process's streams are
            # known here only after a delay, so with several processes none is skipped.
            if not self.cross_process and not self.hub.is_online(follower):
                continue
            # XXX: the store has no lookup of the alias one user gave another, so
            # this reads the follower's whole contact list; one query per follower.
            entries = await self.store.list_friends(follower)
            entry = next((e for e in entries if e.public_key == change.user), None)
            if entry is None or not entry.added:
                continue
            event = events_pb2.ServerEvent(
                friend_status=events_pb2.FriendStatusEvent(
                    public_key=change.user, alias=entry.alias, is_online=change.online
                )
            )
            told += self.hub.publish(follower, event) > 0
        _log.debug("presence.announced", user=change.user[:8], online=change.online, told=told)
        return told

    # -- periodic work ----------------------------------------------------------------

    async def _clean_up_periodically(self) -> None:
        interval = self.config.cleanup_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                result = await self.store.delete_expired(self.clock())
            except Exception:
                _log.exception("cleanup.failed")
                continue
            pruned = self.login_limiter.prune() + self.send_limiter.prune()
            _log.info(
                "cleanup.completed",
                challenges=result.challenges,
                sessions=result.sessions,
                rate_buckets=pruned,
            )
