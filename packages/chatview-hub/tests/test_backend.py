"""The backend seam: the default local backend and a fake two-process cluster."""

from __future__ import annotations

from collections.abc import Collection
from typing import Generic, TypeVar

import pytest

from chatview_hub import (
    BackendBindingError,
    CloseReason,
    Hub,
    HubBackend,
    LocalBackend,
    LocalDispatcher,
    PresenceChange,
    SharedPresence,
    WouldBlockError,
)

ALICE = "a" * 64
BOB = "b" * 64

EventT = TypeVar("EventT")


class FakeCluster(Generic[EventT]):
    """Stands in for a message bus between processes: each backend reaches every hub."""

    def __init__(self) -> None:
        self.dispatchers: list[LocalDispatcher[EventT]] = []
        self.online_processes: dict[str, int] = {}


class FakeClusterBackend(Generic[EventT]):
    """A backend that delivers in every process of a ``FakeCluster`` synchronously."""

    def __init__(self, cluster: FakeCluster[EventT]) -> None:
        self._cluster = cluster
        self._local: LocalDispatcher[EventT] | None = None

    def bind(self, local: LocalDispatcher[EventT]) -> None:
        self._local = local
        self._cluster.dispatchers.append(local)

    def publish(
        self,
        users: Collection[str],
        event: EventT,
        *,
        exclude_connection: str | None,
        exclude_session: str | None,
    ) -> int:
        counts = [
            dispatcher.deliver(
                users,
                event,
                exclude_connection=exclude_connection,
                exclude_session=exclude_session,
            )
            for dispatcher in self._cluster.dispatchers
        ]
        return counts[self._cluster.dispatchers.index(self._bound())]

    def broadcast(self, event: EventT) -> int:
        counts = [dispatcher.deliver_all(event) for dispatcher in self._cluster.dispatchers]
        return counts[self._cluster.dispatchers.index(self._bound())]

    def publish_admins(self, event: EventT) -> int:
        counts = [dispatcher.deliver_admins(event) for dispatcher in self._cluster.dispatchers]
        return counts[self._cluster.dispatchers.index(self._bound())]

    def close_user(self, user: str, final_event: EventT | None, *, reason: str) -> int:
        counts = [
            dispatcher.close_user(user, final_event, reason=reason)
            for dispatcher in self._cluster.dispatchers
        ]
        return counts[self._cluster.dispatchers.index(self._bound())]

    def close_session(self, session_id: str, final_event: EventT | None, *, reason: str) -> int:
        counts = [
            dispatcher.close_session(session_id, final_event, reason=reason)
            for dispatcher in self._cluster.dispatchers
        ]
        return counts[self._cluster.dispatchers.index(self._bound())]

    def announce_presence(self, change: PresenceChange) -> None:
        # Count the processes a user is online in; report only global flips, once,
        # in the announcing process.
        before = self._cluster.online_processes.get(change.user, 0)
        after = before + (1 if change.online else -1)
        self._cluster.online_processes[change.user] = after
        if (before == 0) != (after == 0):
            self._bound().change_presence(change)

    def _bound(self) -> LocalDispatcher[EventT]:
        assert self._local is not None
        return self._local


def accepts_backend(backend: HubBackend[str]) -> HubBackend[str]:
    """Let mypy check that the fake satisfies the protocol."""
    return backend


class TestLocalBackend:
    def test_bind_twice_rejected(self) -> None:
        """One backend serves one hub."""
        backend: LocalBackend[str] = LocalBackend()
        Hub(backend=backend)

        with pytest.raises(BackendBindingError, match=r"^this LocalBackend is already bound"):
            Hub(backend=backend)

    def test_unbound_use_rejected(self) -> None:
        """A backend no hub bound cannot deliver."""
        backend: LocalBackend[str] = LocalBackend()

        with pytest.raises(BackendBindingError, match=r"^this LocalBackend is not bound to a hub"):
            backend.broadcast("x")

    def test_explicit_local_backend_works(self) -> None:
        """A hub given a ``LocalBackend`` behaves like the default."""
        hub: Hub[str] = Hub(backend=LocalBackend())
        connection = hub.connect(ALICE, "phone")

        assert 1 == hub.publish(ALICE, "x")
        assert "x" == connection.receive_nowait()


class TestClusterBackend:
    def test_publish_reaches_other_process(self) -> None:
        """An event published in one process reaches the user's device in another."""
        cluster: FakeCluster[str] = FakeCluster()
        first: Hub[str] = Hub(backend=accepts_backend(FakeClusterBackend(cluster)))
        second: Hub[str] = Hub(backend=FakeClusterBackend(cluster))
        phone = second.connect(ALICE, "phone")

        reached_here = first.publish(ALICE, "hello")

        assert 0 == reached_here
        assert "hello" == phone.receive_nowait()

    def test_exclude_crosses_processes(self) -> None:
        """The excluded connection is skipped by its own process."""
        cluster: FakeCluster[str] = FakeCluster()
        first: Hub[str] = Hub(backend=FakeClusterBackend(cluster))
        second: Hub[str] = Hub(backend=FakeClusterBackend(cluster))
        sender = first.connect(ALICE, "phone")
        other = second.connect(ALICE, "laptop")

        first.publish(ALICE, "sent", exclude=sender)

        with pytest.raises(WouldBlockError):
            sender.receive_nowait()
        assert "sent" == other.receive_nowait()

    def test_close_user_everywhere(self) -> None:
        """Forcing a user offline ends its connections in every process."""
        cluster: FakeCluster[str] = FakeCluster()
        first: Hub[str] = Hub(backend=FakeClusterBackend(cluster))
        second: Hub[str] = Hub(backend=FakeClusterBackend(cluster))
        phone = first.connect(ALICE, "phone")
        laptop = second.connect(ALICE, "laptop")

        first.close_user(ALICE, "banned", reason=CloseReason.FORCE_OFFLINE)

        assert "force_offline" == phone.close_reason
        assert "force_offline" == laptop.close_reason
        assert "banned" == laptop.receive_nowait()

    def test_presence_reported_once(self) -> None:
        """A user online in two processes is reported online once and offline once."""
        cluster: FakeCluster[str] = FakeCluster()
        reported_first: list[PresenceChange] = []
        reported_second: list[PresenceChange] = []
        first: Hub[str] = Hub(
            backend=FakeClusterBackend(cluster), on_presence=reported_first.append
        )
        second: Hub[str] = Hub(
            backend=FakeClusterBackend(cluster), on_presence=reported_second.append
        )

        phone = first.connect(ALICE, "phone")
        laptop = second.connect(ALICE, "laptop")
        phone.close()
        laptop.close()

        assert [PresenceChange(ALICE, True)] == reported_first
        assert [PresenceChange(ALICE, False)] == reported_second

    def test_admins_and_broadcast(self) -> None:
        """Broadcasts and admin events reach every process."""
        cluster: FakeCluster[str] = FakeCluster()
        first: Hub[str] = Hub(backend=FakeClusterBackend(cluster))
        second: Hub[str] = Hub(backend=FakeClusterBackend(cluster))
        admin = second.connect(ALICE, "console", is_admin=True)
        user = second.connect(BOB, "phone", session_id="s1")

        first.broadcast("all")
        first.publish_admins("admins")
        first.close_session("s1")

        assert "all" == admin.receive_nowait()
        assert "admins" == admin.receive_nowait()
        assert "all" == user.receive_nowait()
        assert "session_revoked" == user.close_reason


class SharedPresenceBackend:
    """A local backend that also claims a user connected in another process."""

    def __init__(self, elsewhere: frozenset[str]) -> None:
        self.inner: LocalBackend[str] = LocalBackend()
        self.elsewhere = elsewhere
        self.local: set[str] = set()

    def bind(self, local: LocalDispatcher[str]) -> None:
        self.inner.bind(local)

    def publish(
        self,
        users: Collection[str],
        event: str,
        *,
        exclude_connection: str | None,
        exclude_session: str | None,
    ) -> int:
        return self.inner.publish(
            users, event, exclude_connection=exclude_connection, exclude_session=exclude_session
        )

    def broadcast(self, event: str) -> int:
        return self.inner.broadcast(event)

    def publish_admins(self, event: str) -> int:
        return self.inner.publish_admins(event)

    def close_user(self, user: str, final_event: str | None, *, reason: str) -> int:
        return self.inner.close_user(user, final_event, reason=reason)

    def close_session(self, session_id: str, final_event: str | None, *, reason: str) -> int:
        return self.inner.close_session(session_id, final_event, reason=reason)

    def announce_presence(self, change: PresenceChange) -> None:
        if change.online:
            self.local.add(change.user)
        else:
            self.local.discard(change.user)
        self.inner.announce_presence(change)

    def is_online(self, user: str) -> bool:
        return user in self.elsewhere or user in self.local

    def online_users(self) -> frozenset[str]:
        return self.elsewhere | self.local

    def online_count(self) -> int:
        return len(self.elsewhere | self.local)


class TestSharedPresence:
    def test_hub_asks_backend(self) -> None:
        """With a ``SharedPresence`` backend the hub's queries cover other processes."""
        backend = SharedPresenceBackend(frozenset({BOB}))
        hub: Hub[str] = Hub(backend=backend)
        hub.connect(ALICE, "phone")

        assert isinstance(backend, SharedPresence)
        assert hub.is_online(BOB)
        assert frozenset({ALICE, BOB}) == hub.online_users()
        assert 2 == hub.online_count()
        assert 1 == hub.statistics().users

    def test_local_backend_is_not_shared(self) -> None:
        """Without one, the queries describe this process only."""
        hub: Hub[str] = Hub(backend=LocalBackend())

        assert not isinstance(LocalBackend(), SharedPresence)
        assert not hub.is_online(BOB)
        assert 0 == hub.online_count()
