"""Tests of the hub's registry, fan-out, forced closes, presence and counters."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from chatview_hub import (
    CloseReason,
    Connection,
    ConnectionClosedError,
    ConnectionOverflowError,
    Hub,
    HubClosedError,
    HubStatistics,
    InvalidUserError,
    PresenceChange,
    WouldBlockError,
)

ALICE = "a" * 64
BOB = "b" * 64
CAROL = "c" * 64


def drain(connection: Connection[str]) -> list[str]:
    """Take every queued event of a connection without waiting."""
    events: list[str] = []
    while True:
        try:
            events.append(connection.receive_nowait())
        except (WouldBlockError, ConnectionClosedError):
            return events


class TestHubConstruction:
    def test_queue_size_below_one_rejected(self) -> None:
        """A queue bound below 1 is rejected with the bad value."""
        with pytest.raises(ValueError, match=r"^invalid max_queue_size 0: expected at least 1$"):
            Hub[str](max_queue_size=0)

    def test_default_queue_size(self) -> None:
        """The default queue bound is 256."""
        assert 256 == Hub[str]().statistics().max_queue_size
        assert 256 == Hub.DEFAULT_MAX_QUEUE_SIZE


class TestConnect:
    def test_invalid_user_rejected(self, hub: Hub[str]) -> None:
        """A key that is not 64 lowercase hex digits is rejected."""
        with pytest.raises(InvalidUserError, match=r"^invalid user 'A{64}': expected a public key"):
            hub.connect("A" * 64, "phone")

    def test_after_close_rejected(self, hub: Hub[str]) -> None:
        """``connect`` after ``close`` raises ``HubClosedError``."""
        hub.close()

        with pytest.raises(HubClosedError, match=r"^the hub is closed"):
            hub.connect(ALICE, "phone")

    def test_logs_opened(self, hub: Hub[str]) -> None:
        """Opening a connection logs ``hub.connection.opened`` with its ids."""
        with capture_logs() as logs:
            connection = hub.connect(ALICE, "phone", session_id="secret-session")

        opened = [log for log in logs if log["event"] == "hub.connection.opened"]
        assert 1 == len(opened)
        assert ALICE == opened[0]["user"]
        assert connection.connection_id == opened[0]["connection_id"]
        assert "secret-session" not in repr(logs)


class TestPublish:
    def test_reaches_every_device(self, hub: Hub[str]) -> None:
        """An event for a user reaches each of its connections."""
        phone = hub.connect(ALICE, "phone")
        laptop = hub.connect(ALICE, "laptop")

        reached = hub.publish(ALICE, "hello")

        assert 2 == reached
        assert ["hello"] == drain(phone)
        assert ["hello"] == drain(laptop)

    def test_other_users_untouched(self, hub: Hub[str]) -> None:
        """An event for one user does not reach another."""
        hub.connect(ALICE, "phone")
        bob = hub.connect(BOB, "phone")

        hub.publish(ALICE, "hello")

        assert [] == drain(bob)

    def test_offline_user_reaches_none(self, hub: Hub[str]) -> None:
        """Publishing to a user with no connection reaches nothing."""
        assert 0 == hub.publish(ALICE, "hello")

    def test_exclude_connection(self, hub: Hub[str]) -> None:
        """The excluded connection, such as the sender's device, gets nothing."""
        phone = hub.connect(ALICE, "phone")
        laptop = hub.connect(ALICE, "laptop")

        reached = hub.publish(ALICE, "sent", exclude=phone)

        assert 1 == reached
        assert [] == drain(phone)
        assert ["sent"] == drain(laptop)

    def test_exclude_session(self, hub: Hub[str]) -> None:
        """Connections of the excluded login session get nothing."""
        phone = hub.connect(ALICE, "phone", session_id="s-phone")
        laptop = hub.connect(ALICE, "laptop", session_id="s-laptop")

        reached = hub.publish(ALICE, "sent", exclude_session="s-phone")

        assert 1 == reached
        assert [] == drain(phone)
        assert ["sent"] == drain(laptop)

    def test_invalid_user_rejected(self, hub: Hub[str]) -> None:
        """Publishing to a malformed key raises instead of reaching no connection."""
        with pytest.raises(InvalidUserError):
            hub.publish(ALICE.upper(), "hello")

    def test_same_object_shared(self) -> None:
        """Every connection gets the very object published, not a copy."""
        hub: Hub[list[int]] = Hub()
        phone = hub.connect(ALICE, "phone")
        laptop = hub.connect(ALICE, "laptop")
        event = [1, 2]

        hub.publish(ALICE, event)

        assert phone.receive_nowait() is event
        assert laptop.receive_nowait() is event


class TestPublishMany:
    def test_reaches_each_user(self, hub: Hub[str]) -> None:
        """Every connection of every listed user gets the event."""
        alice = hub.connect(ALICE, "phone")
        bob = hub.connect(BOB, "phone")
        carol = hub.connect(CAROL, "phone")

        reached = hub.publish_many([ALICE, BOB], "status")

        assert 2 == reached
        assert ["status"] == drain(alice)
        assert ["status"] == drain(bob)
        assert [] == drain(carol)

    def test_duplicate_users_once(self, hub: Hub[str]) -> None:
        """A user listed twice gets the event once."""
        alice = hub.connect(ALICE, "phone")

        reached = hub.publish_many([ALICE, ALICE], "status")

        assert 1 == reached
        assert ["status"] == drain(alice)

    def test_invalid_user_publishes_nothing(self, hub: Hub[str]) -> None:
        """One malformed key rejects the whole call before any delivery."""
        alice = hub.connect(ALICE, "phone")

        with pytest.raises(InvalidUserError):
            hub.publish_many([ALICE, "nope"], "status")

        assert [] == drain(alice)


class TestBroadcast:
    def test_reaches_everyone(self, hub: Hub[str]) -> None:
        """A broadcast reaches every connection of every online user."""
        connections = [
            hub.connect(ALICE, "phone"),
            hub.connect(ALICE, "laptop"),
            hub.connect(BOB, "phone"),
            hub.connect(CAROL, "", is_admin=True),
        ]

        reached = hub.broadcast("maintenance at noon")

        assert 4 == reached
        for connection in connections:
            assert ["maintenance at noon"] == drain(connection)


class TestPublishAdmins:
    def test_admins_only(self, hub: Hub[str]) -> None:
        """Only connections opened with ``is_admin=True`` get admin events."""
        admin = hub.connect(ALICE, "console", is_admin=True)
        same_user_plain = hub.connect(ALICE, "phone")
        other = hub.connect(BOB, "phone")

        reached = hub.publish_admins("admin update")

        assert 1 == reached
        assert ["admin update"] == drain(admin)
        assert [] == drain(same_user_plain)
        assert [] == drain(other)

    def test_closed_admin_forgotten(self, hub: Hub[str]) -> None:
        """A closed admin connection no longer counts."""
        admin = hub.connect(ALICE, "console", is_admin=True)
        admin.close()

        assert 0 == hub.publish_admins("admin update")
        assert 0 == hub.statistics().admin_connections


class TestCloseUser:
    async def test_final_event_then_closed(self, hub: Hub[str]) -> None:
        """Each device gets its queued events, the final event, then the reason."""
        phone = hub.connect(ALICE, "phone")
        laptop = hub.connect(ALICE, "laptop")
        hub.publish(ALICE, "before")

        ended = hub.close_user(ALICE, "force_offline: account_banned", reason="account_banned")

        assert 2 == ended
        for connection in (phone, laptop):
            assert "before" == await connection.receive()
            assert "force_offline: account_banned" == await connection.receive()
            with pytest.raises(ConnectionClosedError) as caught:
                await connection.receive()
            assert "account_banned" == caught.value.reason
            assert not isinstance(caught.value, ConnectionOverflowError)

    def test_final_event_over_full_queue(self, hub: Hub[str]) -> None:
        """The final event is queued even when the queue is full."""
        phone = hub.connect(ALICE, "phone")
        for number in range(4):
            hub.publish(ALICE, str(number))

        hub.close_user(ALICE, "bye", reason=CloseReason.FORCE_OFFLINE)

        assert ["0", "1", "2", "3", "bye"] == drain(phone)

    def test_user_goes_offline(self, hub: Hub[str], presence: list[PresenceChange]) -> None:
        """Closing a user makes it offline and reports it once."""
        hub.connect(ALICE, "phone")
        hub.connect(ALICE, "laptop")

        hub.close_user(ALICE, reason=CloseReason.FORCE_OFFLINE)

        assert not hub.is_online(ALICE)
        assert [PresenceChange(ALICE, True), PresenceChange(ALICE, False)] == presence

    def test_other_users_stay(self, hub: Hub[str]) -> None:
        """Closing one user leaves the others connected."""
        bob = hub.connect(BOB, "phone")
        hub.connect(ALICE, "phone")

        hub.close_user(ALICE, reason=CloseReason.FORCE_OFFLINE)

        assert not bob.closed
        assert hub.is_online(BOB)

    def test_offline_user_ends_none(self, hub: Hub[str]) -> None:
        """Closing a user with no connection ends nothing."""
        assert 0 == hub.close_user(ALICE, reason=CloseReason.FORCE_OFFLINE)

    def test_no_delivery_after_close(self, hub: Hub[str]) -> None:
        """After a forced close, later events do not reach the old connection."""
        phone = hub.connect(ALICE, "phone")
        hub.close_user(ALICE, reason=CloseReason.FORCE_OFFLINE)

        assert 0 == hub.publish(ALICE, "late")
        assert [] == drain(phone)


class TestCloseSession:
    def test_ends_only_that_session(self, hub: Hub[str]) -> None:
        """Only the connections of the revoked session end."""
        revoked_phone = hub.connect(ALICE, "phone", session_id="s1")
        revoked_tablet = hub.connect(ALICE, "tablet", session_id="s1")
        kept = hub.connect(ALICE, "laptop", session_id="s2")

        ended = hub.close_session("s1", "logged out")

        assert 2 == ended
        assert "session_revoked" == revoked_phone.close_reason
        assert "session_revoked" == revoked_tablet.close_reason
        assert ["logged out"] == drain(revoked_phone)
        assert not kept.closed
        assert hub.is_online(ALICE)

    def test_custom_reason(self, hub: Hub[str]) -> None:
        """The reason given reaches the receiver."""
        phone = hub.connect(ALICE, "phone", session_id="s1")

        hub.close_session("s1", reason="logged_out")

        assert "logged_out" == phone.close_reason

    def test_unknown_session_ends_none(self, hub: Hub[str]) -> None:
        """A session with no connection ends nothing."""
        hub.connect(ALICE, "phone", session_id="s1")

        assert 0 == hub.close_session("s-unknown")

    def test_session_forgotten_after_close(self, hub: Hub[str]) -> None:
        """A session whose connections all closed is no longer tracked."""
        hub.connect(ALICE, "phone", session_id="s1").close()

        assert 0 == hub.close_session("s1")


class TestReplacement:
    def test_same_device_replaces(self, hub: Hub[str]) -> None:
        """A new connection with the same user and client id ends the old one."""
        old = hub.connect(ALICE, "phone")
        new = hub.connect(ALICE, "phone")

        assert "replaced" == old.close_reason
        assert not new.closed
        assert (new,) == hub.connections_of(ALICE)

    def test_old_receiver_drains_then_closes(self, hub: Hub[str]) -> None:
        """The replaced connection's receiver gets its queued events, then the reason."""
        old = hub.connect(ALICE, "phone")
        hub.publish(ALICE, "before")
        hub.connect(ALICE, "phone")

        assert "before" == old.receive_nowait()
        with pytest.raises(ConnectionClosedError) as caught:
            old.receive_nowait()
        assert "replaced" == caught.value.reason

    def test_no_presence_flicker(self, hub: Hub[str], presence: list[PresenceChange]) -> None:
        """Replacing a device's only connection keeps the user online throughout."""
        hub.connect(ALICE, "phone")
        hub.connect(ALICE, "phone")

        assert [PresenceChange(ALICE, True)] == presence
        assert hub.is_online(ALICE)

    def test_closing_replaced_keeps_new(self, hub: Hub[str]) -> None:
        """The old stream's late ``close()`` leaves the new connection registered."""
        old = hub.connect(ALICE, "phone")
        new = hub.connect(ALICE, "phone")

        old.close()
        hub.connect(ALICE, "laptop")

        assert {new.connection_id} == {
            connection.connection_id
            for connection in hub.connections_of(ALICE)
            if connection.client_id == "phone"
        }
        assert 1 == hub.publish(ALICE, "x", exclude=hub.connections_of(ALICE)[1])

    def test_replacement_tracks_newest(self, hub: Hub[str]) -> None:
        """A third connection of the device replaces the second, not the first."""
        hub.connect(ALICE, "phone")
        second = hub.connect(ALICE, "phone")
        third = hub.connect(ALICE, "phone")

        assert "replaced" == second.close_reason
        assert (third,) == hub.connections_of(ALICE)

    def test_empty_client_id_never_replaces(self, hub: Hub[str]) -> None:
        """Connections without a client id coexist."""
        first = hub.connect(ALICE, "")
        second = hub.connect(ALICE, "")

        assert not first.closed
        assert not second.closed

    def test_other_user_same_client_id(self, hub: Hub[str]) -> None:
        """The same client id of another user is another device."""
        alice = hub.connect(ALICE, "phone")
        hub.connect(BOB, "phone")

        assert not alice.closed

    def test_counted(self, hub: Hub[str]) -> None:
        """Replacements are counted."""
        hub.connect(ALICE, "phone")
        hub.connect(ALICE, "phone")

        assert 1 == hub.statistics().connections_replaced


class TestOverflow:
    def test_full_queue_closes(self, hub: Hub[str]) -> None:
        """An event for a full queue closes the connection as a slow consumer."""
        slow = hub.connect(ALICE, "phone")
        for number in range(4):
            hub.publish(ALICE, str(number))

        reached = hub.publish(ALICE, "one too many")

        assert 0 == reached
        assert slow.closed
        assert "slow_consumer" == slow.close_reason

    def test_receiver_gets_queued_then_error(self, hub: Hub[str]) -> None:
        """The slow receiver gets the events queued before, then the overflow error."""
        slow = hub.connect(ALICE, "phone")
        for number in range(5):
            hub.publish(ALICE, str(number))

        received = [slow.receive_nowait() for _ in range(4)]

        assert ["0", "1", "2", "3"] == received
        with pytest.raises(
            ConnectionOverflowError, match=r"^connection closed because its queue of 4"
        ) as caught:
            slow.receive_nowait()
        assert "slow_consumer" == caught.value.reason
        assert 4 == caught.value.max_queue_size

    def test_others_keep_working(self, hub: Hub[str]) -> None:
        """A slow device's close does not disturb the user's other devices."""
        slow = hub.connect(ALICE, "phone")
        fast = hub.connect(ALICE, "laptop")

        delivered_to_fast: list[str] = []
        for number in range(10):
            hub.publish(ALICE, str(number))
            delivered_to_fast.extend(drain(fast))

        assert slow.closed
        assert not fast.closed
        assert [str(number) for number in range(10)] == delivered_to_fast

    def test_logged_as_warning(self, hub: Hub[str]) -> None:
        """An overflow logs ``hub.connection.overflowed`` at warning level."""
        hub.connect(ALICE, "phone")

        with capture_logs() as logs:
            for number in range(5):
                hub.publish(ALICE, str(number))

        overflowed = [log for log in logs if log["event"] == "hub.connection.overflowed"]
        assert 1 == len(overflowed)
        assert "warning" == overflowed[0]["log_level"]

    def test_broadcast_overflow_keeps_iterating(self, hub: Hub[str]) -> None:
        """A slow connection met in a broadcast is closed and the broadcast goes on."""
        slow = hub.connect(ALICE, "phone")
        for number in range(4):
            hub.broadcast(str(number))
        fast = hub.connect(BOB, "phone")

        reached = hub.broadcast("news")

        assert 1 == reached
        assert slow.closed
        assert ["news"] == drain(fast)

    def test_memory_bounded(self) -> None:
        """A connection that never reads keeps at most the queue bound of events."""
        hub: Hub[int] = Hub(max_queue_size=256)
        never_reads = hub.connect(ALICE, "phone")
        reads = hub.connect(ALICE, "laptop")

        for number in range(100_000):
            hub.publish(ALICE, number)
            reads.receive_nowait()

        statistics = never_reads.statistics()
        assert 256 == statistics.queued
        assert statistics.closed
        assert 1 == hub.statistics().connections_overflowed
        assert 1 == hub.statistics().connections


class TestPresence:
    def test_first_connection_online(self, hub: Hub[str], presence: list[PresenceChange]) -> None:
        """Only the first connection of a user reports it online."""
        hub.connect(ALICE, "phone")
        hub.connect(ALICE, "laptop")

        assert [PresenceChange(ALICE, True)] == presence

    def test_last_connection_offline(self, hub: Hub[str], presence: list[PresenceChange]) -> None:
        """Only the removal of the last connection reports the user offline."""
        phone = hub.connect(ALICE, "phone")
        laptop = hub.connect(ALICE, "laptop")

        phone.close()
        assert [PresenceChange(ALICE, True)] == presence
        hub.disconnect(laptop)

        assert [PresenceChange(ALICE, True), PresenceChange(ALICE, False)] == presence

    def test_overflow_goes_offline(self, hub: Hub[str], presence: list[PresenceChange]) -> None:
        """A slow consumer closed during a publish can take its user offline."""
        hub.connect(ALICE, "phone")
        for number in range(5):
            hub.publish(ALICE, str(number))

        assert PresenceChange(ALICE, False) == presence[-1]

    def test_queries(self, hub: Hub[str]) -> None:
        """``is_online``, ``online_users`` and ``online_count`` agree with the connections."""
        hub.connect(ALICE, "phone")
        hub.connect(BOB, "phone").close()
        hub.connect(CAROL, "phone")

        assert hub.is_online(ALICE)
        assert not hub.is_online(BOB)
        assert frozenset({ALICE, CAROL}) == hub.online_users()
        assert 2 == hub.online_count()

    def test_listener_error_logged(self) -> None:
        """A failing presence listener is logged and does not fail ``connect``."""

        def fail(change: PresenceChange) -> None:
            raise RuntimeError("listener broke")

        hub: Hub[str] = Hub(on_presence=fail)
        with capture_logs() as logs:
            connection = hub.connect(ALICE, "phone")

        assert not connection.closed
        assert ["hub.presence.listener_failed"] == [
            log["event"] for log in logs if log["log_level"] == "error"
        ]

    def test_listener_may_reenter(self) -> None:
        """A presence listener may publish through the hub it listens to."""
        hubs: list[Hub[str]] = []

        def tell_bob(change: PresenceChange) -> None:
            hubs[0].publish(BOB, f"online={change.online}")

        hub: Hub[str] = Hub(on_presence=tell_bob)
        hubs.append(hub)
        bob = hub.connect(BOB, "phone")
        hub.connect(ALICE, "phone").close()

        # Bob's own online change reaches him too: he is registered before the call.
        assert ["online=True", "online=True", "online=False"] == drain(bob)


class TestHubClose:
    def test_ends_every_connection(self, hub: Hub[str], presence: list[PresenceChange]) -> None:
        """``close`` ends each connection with the reason and takes users offline."""
        alice = hub.connect(ALICE, "phone")
        bob = hub.connect(BOB, "phone")
        hub.publish(ALICE, "pending")

        ended = hub.close()

        assert 2 == ended
        assert hub.closed
        assert "server_shutdown" == alice.close_reason
        assert "server_shutdown" == bob.close_reason
        assert ["pending"] == drain(alice)
        assert 0 == hub.online_count()
        assert {PresenceChange(ALICE, False), PresenceChange(BOB, False)} == set(presence[2:])

    def test_idempotent(self, hub: Hub[str]) -> None:
        """A second ``close`` ends nothing more."""
        hub.connect(ALICE, "phone")
        hub.close()

        assert 0 == hub.close()

    def test_publish_after_close(self, hub: Hub[str]) -> None:
        """Publishing after ``close`` reaches nothing and does not raise."""
        hub.close()

        assert 0 == hub.publish(ALICE, "late")
        assert 0 == hub.broadcast("late")


class TestNoBackgroundTasks:
    async def test_hub_starts_no_task(self) -> None:
        """Connecting, publishing and closing leave no task behind."""
        hub: Hub[str] = Hub()
        connection = hub.connect(ALICE, "phone")
        hub.publish(ALICE, "one")
        hub.close_user(ALICE, "bye", reason=CloseReason.FORCE_OFFLINE)
        hub.close()

        assert ["one", "bye"] == [event async for event in connection]
        assert {asyncio.current_task()} == asyncio.all_tasks()


class TestHubStatistics:
    def test_counters(self, hub: Hub[str]) -> None:
        """The snapshot counts connections, users, events and closes by kind."""
        hub.connect(ALICE, "phone", is_admin=True)
        hub.connect(ALICE, "phone")
        slow = hub.connect(BOB, "phone")
        hub.connect(CAROL, "phone").close()
        for number in range(5):
            hub.publish(BOB, str(number))
        hub.publish(ALICE, "one")
        hub.broadcast("all")
        hub.publish_admins("admins")

        assert slow.closed
        expected = HubStatistics(
            connections=1,
            users=1,
            admin_connections=0,
            max_queue_size=4,
            connections_opened=4,
            connections_closed=3,
            connections_replaced=1,
            connections_overflowed=1,
            events_published=8,
            events_delivered=6,
        )
        assert expected == hub.statistics()

    def test_repr(self, hub: Hub[str]) -> None:
        """The repr shows the state and the sizes."""
        hub.connect(ALICE, "phone")

        assert "<Hub open users=1 connections=1>" == repr(hub)
