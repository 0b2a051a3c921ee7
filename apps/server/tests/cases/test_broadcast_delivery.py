"""System broadcasts missed by users who were offline or reconnecting.

A broadcast pushed only to the streams open at that moment never reaches a user who
was offline or between two connections. The server stores each broadcast with an id
and, for clients that pass ``SubscribeReq.broadcasts_after``, sends every unexpired
one above that id when the stream opens; a client that passes the newest id it saw
gets no replay. The case's minutes are scaled to seconds: the one-minute expiry is
one second here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import grpc
import pytest

from chatview_proto import admin_pb2, events_pb2
from chatview_server.testing import ProtocolClient

from .conftest import Stream, Subscriber

ClientFactory = Callable[..., Awaitable[ProtocolClient]]


async def broadcasts(stream: Stream, quiet: float = 0.8) -> list[events_pb2.SystemBroadcastEvent]:
    """The broadcasts `stream` delivers until it stays quiet for `quiet` s."""
    return [event.system_broadcast for event in await stream.events("system_broadcast", quiet)]


async def announce(admin: ProtocolClient, text: str, expires_in: int = 0) -> None:
    await admin.admin.Broadcast(
        admin_pb2.BroadcastReq(text=text, expires_in_seconds=expires_in), metadata=admin.metadata
    )


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


class TestBroadcastDelivery:
    async def test_offline_and_reconnecting_get_it_once(
        self, connect: ClientFactory, admin: ProtocolClient, subscribe: Subscriber
    ) -> None:
        """Online, cut-off and offline users each get the broadcast exactly once."""
        notice = unique("系统维护通知：今晚 23:00–23:30 服务暂停")
        alice, bob = await connect(), await connect()
        alice_stream = await subscribe(alice, "a1", 0)
        bob_stream = await subscribe(bob, "b1", 0)
        seen_by_bob = max((b.id for b in await broadcasts(bob_stream)), default=0)
        await broadcasts(alice_stream)
        bob_stream.cancel()  # Bob is cut off around the broadcast

        await announce(admin, notice)
        carol = await connect()  # Carol logs in only afterwards
        bob_again = await subscribe(bob, "b1", seen_by_bob)
        carol_stream = await subscribe(carol, "c1", 0)

        got = {
            "alice": await broadcasts(alice_stream),
            "bob": await broadcasts(bob_again),
            "carol": await broadcasts(carol_stream),
        }
        assert {"alice": 1, "bob": 1, "carol": 1} == {
            name: [b.text for b in events].count(notice) for name, events in got.items()
        }
        (stored,) = [b for b in got["carol"] if b.text == notice]
        assert (admin.key, "") == (stored.from_admin, stored.expires_at)
        assert stored.id > 0
        assert stored.sent_at.endswith("Z")
        for stream in (alice_stream, bob_again, carol_stream):
            stream.cancel()

    async def test_reconnect_replays_nothing(
        self, connect: ClientFactory, admin: ProtocolClient, subscribe: Subscriber
    ) -> None:
        """A device that passes the newest id it saw gets no broadcast again."""
        carol = await connect()
        await announce(admin, unique("维护已完成"))
        first = await subscribe(carol, "c1", 0)
        newest = max(b.id for b in await broadcasts(first))
        first.cancel()

        again = await subscribe(carol, "c1", newest)

        assert [] == await broadcasts(again)
        again.cancel()

    async def test_expired_not_delivered(
        self, connect: ClientFactory, admin: ProtocolClient, subscribe: Subscriber
    ) -> None:
        """A broadcast past its expiry is not sent to a device that connects later."""
        notice = unique("第三条通知")
        watcher = await connect()
        live = await subscribe(watcher, "w1", None)
        await announce(admin, notice, expires_in=1)
        (event,) = [b for b in await broadcasts(live, quiet=0.3) if b.text == notice]
        assert event.expires_at.endswith("Z")
        await asyncio.sleep(1.5)

        dave = await connect()
        late = await subscribe(dave, "d1", 0)

        assert notice not in [b.text for b in await broadcasts(late)]
        live.cancel()
        late.cancel()

    async def test_old_client_gets_live_only(
        self, connect: ClientFactory, admin: ProtocolClient, subscribe: Subscriber
    ) -> None:
        """Without broadcasts_after a stream gets live broadcasts, and no stored ones."""
        await announce(admin, unique("旧通知"))
        old = await connect()
        stream = await subscribe(old, "legacy", None)
        assert [] == await broadcasts(stream, quiet=0.5)

        notice = unique("新通知")
        await announce(admin, notice)

        assert [notice] == [b.text for b in await broadcasts(stream)]
        stream.cancel()

    async def test_racing_broadcasts_once_each(
        self, connect: ClientFactory, admin: ProtocolClient, subscribe: Subscriber
    ) -> None:
        """Broadcasts sent while a stream opens arrive once each, stored or live."""
        user = await connect()
        probe = await subscribe(user, "probe", 0)
        floor = max((b.id for b in await broadcasts(probe, quiet=0.3)), default=0)
        probe.cancel()
        texts = [unique(f"通知 {n}") for n in range(5)]

        opening = asyncio.create_task(subscribe(user, "racer", floor))
        await asyncio.gather(*(announce(admin, text) for text in texts))
        stream = await opening

        got = [b.text for b in await broadcasts(stream)]
        assert sorted(texts) == sorted(got)
        stream.cancel()

    async def test_not_unread_in_any_conversation(
        self, connect: ClientFactory, admin: ProtocolClient, subscribe: Subscriber
    ) -> None:
        """A broadcast opens no conversation and counts as unread nowhere."""
        user = await connect()
        await announce(admin, unique("系统通知"))

        listed = (await user.friends()).friends

        assert [] == [(f.public_key, f.unread) for f in listed]

    async def test_negative_expiry_refused(self, admin: ProtocolClient) -> None:
        """A negative lifetime is INVALID_ARGUMENT naming the field."""
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await announce(admin, "过期", expires_in=-1)
        assert grpc.StatusCode.INVALID_ARGUMENT == failure.value.code()
        assert "expires_in_seconds" in (failure.value.details() or "")
