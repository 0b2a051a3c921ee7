"""Hubs in several simulated server processes, joined by PostgresBackend or NatsBackend.

Each "process" is a hub with its own backend in this test's event loop; they share
one fresh database (and, for NATS, one subject of their own). The tests that must
kill a real process are in ``test_cluster_process.py``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatview_hub import (
    CloseReason,
    Connection,
    ConnectionClosedError,
    PresenceChange,
)

from .cluster import BackendKind, Cluster, Node, drain, eventually

ALICE = "a" * 64
BOB = "b" * 64
CAROL = "c" * 64

MakeCluster = Callable[[BackendKind], Cluster]

KINDS = pytest.mark.parametrize("kind", ["postgres", "nats"])


async def three(make_cluster: MakeCluster, kind: BackendKind) -> tuple[Node, Node, Node]:
    cluster = make_cluster(kind)
    return await cluster.start(), await cluster.start(), await cluster.start()


async def received(connection: Connection[str], count: int) -> list[str]:
    """Wait for ``count`` events on ``connection`` and return them."""
    events: list[str] = []
    async with asyncio.timeout(10):
        while len(events) < count:
            events.append(await connection.receive())
    return events


@KINDS
class TestDelivery:
    async def test_publish_reaches_other_processes(
        self, make_cluster: MakeCluster, kind: BackendKind
    ) -> None:
        """An event published in A reaches the user's devices in B and C."""
        a, b, c = await three(make_cluster, kind)
        phone = b.hub.connect(ALICE, "phone")
        laptop = c.hub.connect(ALICE, "laptop")

        reached_here = a.hub.publish(ALICE, "hello")

        assert 0 == reached_here
        assert ["hello"] == await received(phone, 1)
        assert ["hello"] == await received(laptop, 1)

    async def test_own_process_gets_one_copy(
        self, make_cluster: MakeCluster, kind: BackendKind
    ) -> None:
        """A process delivers its own events directly and skips their echo."""
        a, b, _ = await three(make_cluster, kind)
        here = a.hub.connect(ALICE, "phone")
        there = b.hub.connect(ALICE, "laptop")

        a.hub.publish(ALICE, "one")
        a.hub.publish(ALICE, "two")
        await received(there, 2)
        await a.backend.flush()
        a.hub.publish(ALICE, "marker")
        await received(there, 1)

        assert ["one", "two", "marker"] == drain(here)

    async def test_order_kept(self, make_cluster: MakeCluster, kind: BackendKind) -> None:
        """Events from one process arrive in another in the order they were published."""
        a, b, _ = await three(make_cluster, kind)
        phone = b.hub.connect(ALICE, "phone")
        sent = [f"event-{number}" for number in range(50)]

        for event in sent:
            a.hub.publish(ALICE, event)

        assert sent == await received(phone, len(sent))

    async def test_exclude_session_across(
        self, make_cluster: MakeCluster, kind: BackendKind
    ) -> None:
        """``exclude_session`` skips that session's devices in every process."""
        a, b, c = await three(make_cluster, kind)
        sender_other_device = b.hub.connect(ALICE, "tablet", session_id="s1")
        second_session = c.hub.connect(ALICE, "laptop", session_id="s2")

        a.hub.publish(ALICE, "sent", exclude_session="s1")
        a.hub.publish(ALICE, "after")

        assert ["sent", "after"] == await received(second_session, 2)
        assert ["after"] == await received(sender_other_device, 1)

    async def test_exclude_connection_across(
        self, make_cluster: MakeCluster, kind: BackendKind
    ) -> None:
        """The excluded connection is skipped; the user's other devices get the event."""
        a, b, _ = await three(make_cluster, kind)
        sender = a.hub.connect(ALICE, "phone")
        other = b.hub.connect(ALICE, "laptop")

        a.hub.publish(ALICE, "sent", exclude=sender)
        a.hub.publish(ALICE, "after")

        assert ["sent", "after"] == await received(other, 2)
        assert ["after"] == drain(sender)

    async def test_publish_many_across(self, make_cluster: MakeCluster, kind: BackendKind) -> None:
        """``publish_many`` reaches each listed user wherever it is connected."""
        a, b, c = await three(make_cluster, kind)
        bob = b.hub.connect(BOB, "phone")
        carol = c.hub.connect(CAROL, "phone")
        alice = c.hub.connect(ALICE, "phone")

        a.hub.publish_many([BOB, CAROL], "status")
        a.hub.publish(ALICE, "marker")

        assert ["status"] == await received(bob, 1)
        assert ["status"] == await received(carol, 1)
        assert ["marker"] == await received(alice, 1)

    async def test_broadcast_and_admins(self, make_cluster: MakeCluster, kind: BackendKind) -> None:
        """Broadcasts reach every connection and admin events every admin, in every process."""
        a, b, c = await three(make_cluster, kind)
        admin = b.hub.connect(ALICE, "console", is_admin=True)
        user = c.hub.connect(BOB, "phone")

        a.hub.broadcast("all")
        a.hub.publish_admins("admins")
        a.hub.broadcast("end")

        assert ["all", "admins", "end"] == await received(admin, 3)
        assert ["all", "end"] == await received(user, 2)

    async def test_close_user_across(self, make_cluster: MakeCluster, kind: BackendKind) -> None:
        """A ban ends the user's connections everywhere, each after its final event."""
        a, b, c = await three(make_cluster, kind)
        phone = b.hub.connect(ALICE, "phone")
        laptop = c.hub.connect(ALICE, "laptop")
        bystander = c.hub.connect(BOB, "phone")

        a.hub.close_user(ALICE, "banned", reason=CloseReason.FORCE_OFFLINE)

        assert ["banned"] == await received(phone, 1)
        assert ["banned"] == await received(laptop, 1)
        with pytest.raises(ConnectionClosedError, match="force_offline"):
            await phone.receive()
        assert not bystander.closed

    async def test_close_session_across(self, make_cluster: MakeCluster, kind: BackendKind) -> None:
        """A logout ends the session's connections in every process, and only those."""
        a, b, c = await three(make_cluster, kind)
        revoked = b.hub.connect(ALICE, "phone", session_id="gone")
        kept = c.hub.connect(ALICE, "laptop", session_id="kept")

        a.hub.close_session("gone", "logged out")

        assert ["logged out"] == await received(revoked, 1)
        await eventually(lambda: revoked.closed)
        assert "session_revoked" == revoked.close_reason
        a.hub.publish(ALICE, "still here")
        assert ["still here"] == await received(kept, 1)


@KINDS
class TestPresence:
    async def test_online_while_any_process_holds(
        self, make_cluster: MakeCluster, kind: BackendKind
    ) -> None:
        """One online and one offline change for a user connected in two processes."""
        cluster = make_cluster(kind)
        a, b = await cluster.start(), await cluster.start()

        phone = a.hub.connect(ALICE, "phone")
        await cluster.flush()
        laptop = b.hub.connect(ALICE, "laptop")
        await cluster.flush()
        phone.close()
        await cluster.flush()
        online_after_first_close = b.hub.is_online(ALICE)
        laptop.close()
        await cluster.flush()

        assert online_after_first_close
        assert [(0, PresenceChange(ALICE, True)), (1, PresenceChange(ALICE, False))] == (
            cluster.shared_log
        )

    async def test_queries_are_cluster_wide(
        self, make_cluster: MakeCluster, kind: BackendKind
    ) -> None:
        """A process sees users connected only in another one as online."""
        cluster = make_cluster(kind)
        a, b = await cluster.start(), await cluster.start()

        a.hub.connect(ALICE, "phone")
        b.hub.connect(BOB, "phone")
        await cluster.flush()

        await eventually(lambda: b.hub.is_online(ALICE))
        assert frozenset({ALICE, BOB}) == a.hub.online_users() == b.hub.online_users()
        assert 2 == a.hub.online_count()
        assert 1 == a.hub.statistics().users

    async def test_offline_seen_elsewhere(
        self, make_cluster: MakeCluster, kind: BackendKind
    ) -> None:
        """When the last connection goes, the other processes stop seeing the user online."""
        cluster = make_cluster(kind)
        a, b = await cluster.start(), await cluster.start()
        phone = a.hub.connect(ALICE, "phone")
        await cluster.flush()
        await eventually(lambda: b.hub.is_online(ALICE))

        phone.close()
        await cluster.flush()

        await eventually(lambda: not b.hub.is_online(ALICE))

    async def test_new_process_sees_existing(
        self, make_cluster: MakeCluster, kind: BackendKind
    ) -> None:
        """A process that starts later loads who is online already."""
        cluster = make_cluster(kind)
        a = await cluster.start()
        a.hub.connect(ALICE, "phone")
        await cluster.flush()

        late = await cluster.start()

        assert late.hub.is_online(ALICE)

    async def test_stop_takes_users_offline(
        self, make_cluster: MakeCluster, kind: BackendKind
    ) -> None:
        """A process that stops reports its users offline once, and the others see it."""
        cluster = make_cluster(kind)
        a, b = await cluster.start(), await cluster.start()
        a.hub.connect(ALICE, "phone")
        await cluster.flush()

        a.hub.close()
        await a.backend.stop()

        await eventually(lambda: not b.hub.is_online(ALICE))
        assert [PresenceChange(ALICE, True), PresenceChange(ALICE, False)] == a.reported
        assert [] == b.reported


class TestPresenceProperty:
    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        steps=st.lists(
            st.tuples(st.integers(0, 2), st.sampled_from([ALICE, BOB]), st.booleans()),
            min_size=1,
            max_size=30,
        )
    )
    async def test_transitions_alternate(
        self, make_cluster: MakeCluster, steps: list[tuple[int, str, bool]]
    ) -> None:
        """Racing connects and closes in three processes give alternating global changes.

        Merged over the whole cluster, each user's reported changes alternate, start
        with online, and end in the user's real state.
        """
        cluster = make_cluster("postgres")
        nodes = [await cluster.start() for _ in range(3)]
        open_connections: dict[tuple[int, str], list[Connection[str]]] = {}
        for (process, user, connect), pause in zip(steps, itertools.cycle([0, 0, 0.002])):
            held = open_connections.setdefault((process, user), [])
            if connect:
                held.append(nodes[process].hub.connect(user, ""))
            elif held:
                held.pop().close()
            # Mostly back to back, sometimes a pause to let transactions interleave.
            await asyncio.sleep(pause)
        await cluster.flush()

        for user in (ALICE, BOB):
            changes = [change.online for _, change in cluster.shared_log if change.user == user]
            expected_final = any(held for (_, u), held in open_connections.items() if u == user)
            assert all(first != second for first, second in itertools.pairwise(changes))
            assert not changes or changes[0]
            assert (changes[-1] if changes else False) == expected_final
        await cluster.stop_all()
        cluster.nodes.clear()
