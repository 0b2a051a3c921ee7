"""Presence under random concurrent operations, and the coalescing presence feed."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatview_hub import Connection, Hub, PresenceChange, PresenceFeed

USERS = ["a" * 64, "b" * 64, "c" * 64]
QUEUE_SIZE = 2


# -- operations ---------------------------------------------------------------------------


@attrs.frozen
class Connect:
    user: int
    client_id: str
    session: int


@attrs.frozen
class CloseOwn:
    """Close one of the connections the same task opened (``index`` modulo their count)."""

    index: int


@attrs.frozen
class CloseUser:
    user: int


@attrs.frozen
class CloseSession:
    session: int


@attrs.frozen
class Publish:
    """Publish ``count`` events to a user whose connections never read, to force overflows."""

    user: int
    count: int


Operation = Connect | CloseOwn | CloseUser | CloseSession | Publish

user_indexes = st.integers(0, len(USERS) - 1)
operations = st.one_of(
    st.builds(Connect, user_indexes, st.sampled_from(["", "phone", "laptop"]), st.integers(0, 2)),
    st.builds(CloseOwn, st.integers(0, 8)),
    st.builds(CloseUser, user_indexes),
    st.builds(CloseSession, st.integers(0, 2)),
    st.builds(Publish, user_indexes, st.integers(1, 3)),
)
# Each task runs its operations in order; the flag sets whether to yield to the event
# loop after the operation, which is what lets the tasks interleave.
task_plans = st.lists(st.tuples(operations, st.booleans()), max_size=15)


# -- the model ----------------------------------------------------------------------------


@attrs.define
class ModelConnection:
    user: str
    client_id: str
    session: str
    queued: int = 0
    open: bool = True


@attrs.define
class Model:
    """What presence should be, computed from the executed operations alone."""

    connections: dict[str, ModelConnection] = attrs.field(factory=dict)
    changes: defaultdict[str, list[bool]] = attrs.field(factory=lambda: defaultdict(list))

    def open_count(self, user: str) -> int:
        return sum(1 for c in self.connections.values() if c.open and c.user == user)

    def connect(self, connection_id: str, user: str, client_id: str, session: str) -> None:
        was_offline = self.open_count(user) == 0
        replaced = [
            c
            for c in self.connections.values()
            if client_id and c.open and c.user == user and c.client_id == client_id
        ]
        self.connections[connection_id] = ModelConnection(user, client_id, session)
        for connection in replaced:
            connection.open = False
        if was_offline:
            self.changes[user].append(True)

    def close(self, connection_id: str) -> None:
        connection = self.connections[connection_id]
        if not connection.open:
            return
        connection.open = False
        if self.open_count(connection.user) == 0:
            self.changes[connection.user].append(False)

    def close_where(self, user: str | None = None, session: str | None = None) -> None:
        for connection_id, connection in list(self.connections.items()):
            if user is not None and connection.user != user:
                continue
            if session is not None and connection.session != session:
                continue
            self.close(connection_id)

    def publish(self, user: str) -> None:
        for connection_id, connection in list(self.connections.items()):
            if not connection.open or connection.user != user:
                continue
            if connection.queued == QUEUE_SIZE:
                self.close(connection_id)
            else:
                connection.queued += 1


# -- running the plans against a real hub -------------------------------------------------


async def run_task(
    hub: Hub[int], plan: list[tuple[Operation, bool]], executed: list[tuple[str, object]]
) -> None:
    """Run one task's plan, recording each operation in execution order."""
    own: list[Connection[int]] = []
    for operation, yield_after in plan:
        # Each operation and its record happen with no await in between, so the
        # record order is the order the hub saw.
        match operation:
            case Connect(user, client_id, session):
                connection = hub.connect(USERS[user], client_id, session_id=f"s{session}")
                own.append(connection)
                executed.append(("connect", connection))
            case CloseOwn(index) if own:
                connection = own[index % len(own)]
                connection.close()
                executed.append(("close", connection.connection_id))
            case CloseUser(user):
                hub.close_user(USERS[user], -1, reason="force_offline")
                executed.append(("close_user", USERS[user]))
            case CloseSession(session):
                hub.close_session(f"s{session}")
                executed.append(("close_session", f"s{session}"))
            case Publish(user, count):
                for number in range(count):
                    hub.publish(USERS[user], number)
                    executed.append(("publish", USERS[user]))
        if yield_after:
            await asyncio.sleep(0)


def replay(executed: list[tuple[str, object]]) -> Model:
    """Apply the recorded operations to the model, in the recorded order."""
    model = Model()
    for kind, argument in executed:
        if kind == "connect":
            assert isinstance(argument, Connection)
            model.connect(
                argument.connection_id, argument.user, argument.client_id, str(argument.session_id)
            )
        elif kind == "close":
            assert isinstance(argument, str)
            model.close(argument)
        elif kind == "close_user":
            assert isinstance(argument, str)
            model.close_where(user=argument)
        elif kind == "close_session":
            assert isinstance(argument, str)
            model.close_where(session=argument)
        else:
            assert isinstance(argument, str)
            model.publish(argument)
    return model


def per_user(changes: list[PresenceChange]) -> dict[str, list[bool]]:
    result: dict[str, list[bool]] = defaultdict(list)
    for change in changes:
        result[change.user].append(change.online)
    return dict(result)


class TestPresenceInterleavings:
    @settings(max_examples=300, deadline=None)
    @given(plans=st.lists(task_plans, min_size=1, max_size=4))
    def test_matches_model(self, plans: list[list[tuple[Operation, bool]]]) -> None:
        """Per user, the reported changes equal the model's for the executed order."""
        reported: list[PresenceChange] = []
        hub: Hub[int] = Hub(max_queue_size=QUEUE_SIZE, on_presence=reported.append)
        executed: list[tuple[str, object]] = []

        async def run_all() -> None:
            await asyncio.gather(*(run_task(hub, plan, executed) for plan in plans))

        asyncio.run(run_all())
        model = replay(executed)

        assert {user: changes for user, changes in model.changes.items() if changes} == per_user(
            reported
        )
        expected_online = {user for user in USERS if model.open_count(user) > 0}
        assert expected_online == hub.online_users()

    @settings(max_examples=200, deadline=None)
    @given(plans=st.lists(task_plans, min_size=1, max_size=4))
    def test_alternates_through_close(self, plans: list[list[tuple[Operation, bool]]]) -> None:
        """Per user, changes alternate from online and end offline after ``Hub.close``."""
        reported: list[PresenceChange] = []
        hub: Hub[int] = Hub(max_queue_size=QUEUE_SIZE, on_presence=reported.append)
        executed: list[tuple[str, object]] = []

        async def run_all() -> None:
            await asyncio.gather(*(run_task(hub, plan, executed) for plan in plans))
            hub.close()

        asyncio.run(run_all())

        for user, changes in per_user(reported).items():
            expected = [index % 2 == 0 for index in range(len(changes))]
            assert expected == changes, user
            assert not changes[-1], user
        assert 0 == hub.statistics().connections


class TestPresenceFeed:
    def test_push_then_drain(self) -> None:
        """Changes come out in the order pushed."""
        feed = PresenceFeed()

        feed.push(PresenceChange(USERS[0], True))
        feed.push(PresenceChange(USERS[1], True))

        assert [PresenceChange(USERS[0], True), PresenceChange(USERS[1], True)] == feed.drain()
        assert 0 == len(feed)

    def test_flap_cancels(self) -> None:
        """An offline change that undoes a pending online change removes both."""
        feed = PresenceFeed()

        feed.push(PresenceChange(USERS[0], True))
        feed.push(PresenceChange(USERS[0], False))

        assert [] == feed.drain()

    def test_one_pending_per_user(self) -> None:
        """However often a user flaps, at most one change per user is held."""
        feed = PresenceFeed()

        for _ in range(1000):
            feed.push(PresenceChange(USERS[0], True))
            feed.push(PresenceChange(USERS[0], False))
        feed.push(PresenceChange(USERS[0], True))

        assert 1 == len(feed)

    async def test_async_iteration_waits(self) -> None:
        """Iteration waits for a change and stops after ``close``."""
        feed = PresenceFeed()
        hub: Hub[str] = Hub(on_presence=feed.push)

        async def consume() -> list[PresenceChange]:
            return [change async for change in feed]

        consuming = asyncio.create_task(consume())
        await asyncio.sleep(0)
        hub.connect(USERS[0], "phone")
        await asyncio.sleep(0)
        hub.close()
        feed.close()

        assert [PresenceChange(USERS[0], True), PresenceChange(USERS[0], False)] == (
            await asyncio.wait_for(consuming, 1)
        )

    def test_push_after_close_ignored(self) -> None:
        """A change pushed after ``close`` is dropped."""
        feed = PresenceFeed()
        feed.close()

        feed.push(PresenceChange(USERS[0], True))

        assert feed.closed
        assert 0 == len(feed)

    async def test_cancelled_consumer_loses_nothing(self) -> None:
        """A consumer cancelled while waiting leaves later changes for the next one."""
        feed = PresenceFeed()
        waiting = asyncio.create_task(anext(aiter(feed)))
        await asyncio.sleep(0)

        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        feed.push(PresenceChange(USERS[0], True))

        assert [PresenceChange(USERS[0], True)] == feed.drain()

    @given(steps=st.lists(st.tuples(st.integers(0, len(USERS) - 1), st.booleans()), max_size=60))
    def test_consumer_view_alternates(self, steps: list[tuple[int, bool]]) -> None:
        """The consumer receives alternating changes per user ending in the current state."""
        feed = PresenceFeed()
        state = dict.fromkeys(USERS, False)
        consumed: list[PresenceChange] = []

        # Each step flips one user's state (as a hub would) and maybe drains.
        for user_index, drain_after in steps:
            user = USERS[user_index]
            state[user] = not state[user]
            feed.push(PresenceChange(user, state[user]))
            if drain_after:
                consumed.extend(feed.drain())
        consumed.extend(feed.drain())

        seen = per_user(consumed)
        for user in USERS:
            changes = seen.get(user, [])
            assert [index % 2 == 0 for index in range(len(changes))] == changes, user
            assert state[user] == (changes[-1] if changes else False), user
