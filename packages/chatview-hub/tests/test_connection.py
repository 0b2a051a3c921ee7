"""Tests of one connection's queue and receiving end."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from chatview_hub import (
    CloseReason,
    Connection,
    ConnectionClosedError,
    ConnectionOverflowError,
    ConnectionStatistics,
    Hub,
    WouldBlockError,
)

ALICE = "a" * 64


class TestConstruction:
    def test_direct_construction_rejected(self) -> None:
        """Connections come only from ``Hub.connect()``."""
        with pytest.raises(TypeError, match=r"^Connection objects are made by Hub\.connect\(\)"):
            Connection()

    def test_identity_properties(self, hub: Hub[str]) -> None:
        """The properties return what ``connect`` was given."""
        before = datetime.datetime.now(datetime.UTC)

        connection = hub.connect(ALICE, "phone", session_id="s1", is_admin=True)

        assert ALICE == connection.user
        assert "phone" == connection.client_id
        assert "s1" == connection.session_id
        assert connection.is_admin
        assert before <= connection.connected_at <= datetime.datetime.now(datetime.UTC)
        assert not connection.closed
        assert connection.close_reason is None

    def test_connection_ids_unique(self, hub: Hub[str]) -> None:
        """Each connection gets its own id."""
        ids = {hub.connect(ALICE, "").connection_id for _ in range(100)}

        assert 100 == len(ids)


class TestReceiveNowait:
    def test_returns_in_order(self, hub: Hub[str]) -> None:
        """Events come out in the order they were published."""
        connection = hub.connect(ALICE, "phone")
        hub.publish(ALICE, "one")
        hub.publish(ALICE, "two")

        assert "one" == connection.receive_nowait()
        assert "two" == connection.receive_nowait()

    def test_empty_raises_would_block(self, hub: Hub[str]) -> None:
        """An open connection with nothing queued raises ``WouldBlockError``."""
        connection = hub.connect(ALICE, "phone")

        with pytest.raises(WouldBlockError, match=r"^no event is queued; await receive\(\)"):
            connection.receive_nowait()

    def test_closed_after_drain(self, hub: Hub[str]) -> None:
        """After a close, queued events come first, then ``ConnectionClosedError``."""
        connection = hub.connect(ALICE, "phone")
        hub.publish(ALICE, "one")
        hub.close_user(ALICE, reason=CloseReason.FORCE_OFFLINE)

        assert "one" == connection.receive_nowait()
        with pytest.raises(ConnectionClosedError) as caught:
            connection.receive_nowait()
        assert "force_offline" == caught.value.reason


class TestReceive:
    async def test_waits_for_event(self, hub: Hub[str]) -> None:
        """A waiting receiver resumes with the next published event."""
        connection = hub.connect(ALICE, "phone")
        receiving = asyncio.create_task(connection.receive())
        await asyncio.sleep(0)

        hub.publish(ALICE, "hello")

        assert "hello" == await asyncio.wait_for(receiving, 1)

    async def test_waiting_receiver_sees_close(self, hub: Hub[str]) -> None:
        """A receiver waiting on an empty queue gets the close reason."""
        connection = hub.connect(ALICE, "phone")
        receiving = asyncio.create_task(connection.receive())
        await asyncio.sleep(0)

        hub.close(reason=CloseReason.SERVER_SHUTDOWN)

        with pytest.raises(ConnectionClosedError) as caught:
            await asyncio.wait_for(receiving, 1)
        assert "server_shutdown" == caught.value.reason

    async def test_two_receivers_share_events(self, hub: Hub[str]) -> None:
        """Two tasks receiving from one connection each get a different event."""
        connection = hub.connect(ALICE, "phone")
        first = asyncio.create_task(connection.receive())
        second = asyncio.create_task(connection.receive())
        await asyncio.sleep(0)

        hub.publish(ALICE, "one")
        hub.publish(ALICE, "two")

        assert {"one", "two"} == set(await asyncio.wait_for(asyncio.gather(first, second), 1))


class TestCancellation:
    async def test_cancelled_receive_keeps_connection_open(self, hub: Hub[str]) -> None:
        """Cancelling a waiting receive leaves the connection open and usable."""
        connection = hub.connect(ALICE, "phone")
        receiving = asyncio.create_task(connection.receive())
        await asyncio.sleep(0)

        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving
        hub.publish(ALICE, "after")

        assert not connection.closed
        assert 0 == connection.statistics().waiting_receivers
        assert "after" == await asyncio.wait_for(connection.receive(), 1)

    async def test_cancel_after_wakeup_loses_nothing(self, hub: Hub[str]) -> None:
        """A receiver cancelled after being woken leaves the event queued."""
        connection = hub.connect(ALICE, "phone")
        receiving = asyncio.create_task(connection.receive())
        await asyncio.sleep(0)

        # The publish wakes the receiver, but it is cancelled before it can run.
        hub.publish(ALICE, "kept")
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving

        assert "kept" == connection.receive_nowait()

    async def test_timeout_on_receive(self, hub: Hub[str]) -> None:
        """A receive that times out leaves no waiter behind."""
        connection = hub.connect(ALICE, "phone")

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(connection.receive(), 0.01)

        assert 0 == connection.statistics().waiting_receivers
        assert 1 == hub.statistics().connections


class TestAsyncIteration:
    async def test_ends_after_normal_close(self, hub: Hub[str]) -> None:
        """``async for`` yields the queued events and stops after a normal close."""
        connection = hub.connect(ALICE, "phone")
        hub.publish(ALICE, "one")
        hub.close_user(ALICE, "bye", reason=CloseReason.FORCE_OFFLINE)

        received = [event async for event in connection]

        assert ["one", "bye"] == received

    async def test_raises_after_overflow(self, hub: Hub[str]) -> None:
        """``async for`` yields the queued events, then raises the overflow."""
        connection = hub.connect(ALICE, "phone")
        for number in range(5):
            hub.publish(ALICE, str(number))

        received: list[str] = []

        async def collect() -> None:
            async for event in connection:
                received.append(event)

        with pytest.raises(ConnectionOverflowError):
            await collect()

        assert ["0", "1", "2", "3"] == received


class TestClose:
    def test_close_drops_queued_events(self, hub: Hub[str]) -> None:
        """``close()`` from the server's side discards what was queued."""
        connection = hub.connect(ALICE, "phone")
        hub.publish(ALICE, "one")

        connection.close()

        assert 0 == connection.statistics().queued
        with pytest.raises(ConnectionClosedError) as caught:
            connection.receive_nowait()
        assert "disconnected" == caught.value.reason

    def test_close_idempotent(self, hub: Hub[str]) -> None:
        """A second ``close()`` changes nothing."""
        connection = hub.connect(ALICE, "phone")

        connection.close()
        connection.close()

        assert 1 == hub.statistics().connections_closed

    def test_close_keeps_hub_reason(self, hub: Hub[str]) -> None:
        """Closing after the hub ended the connection keeps the hub's reason."""
        connection = hub.connect(ALICE, "phone")
        hub.close_user(ALICE, reason="account_banned")

        connection.close()

        assert "account_banned" == connection.close_reason

    def test_with_block_closes(self, hub: Hub[str]) -> None:
        """Leaving a ``with`` block closes the connection."""
        with hub.connect(ALICE, "phone") as connection:
            assert hub.is_online(ALICE)

        assert connection.closed
        assert not hub.is_online(ALICE)


class TestConnectionStatistics:
    def test_counts(self, hub: Hub[str]) -> None:
        """The snapshot counts delivered, received and queued events."""
        connection = hub.connect(ALICE, "phone")
        for event in ("one", "two", "three"):
            hub.publish(ALICE, event)
        connection.receive_nowait()

        expected = ConnectionStatistics(
            queued=2,
            max_queue_size=4,
            events_delivered=3,
            events_received=1,
            waiting_receivers=0,
            closed=False,
            close_reason=None,
        )
        assert expected == connection.statistics()

    def test_repr_names_state(self, hub: Hub[str]) -> None:
        """The repr shows the device and whether it is open."""
        connection = hub.connect(ALICE, "phone")
        connection.close()

        assert (
            "<Connection user=aaaaaaaaaaaa... client_id='phone' closed (disconnected) queued=0>"
            == repr(connection)
        )
