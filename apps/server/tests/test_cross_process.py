"""Two server processes on one database with ``event_backend: postgres``.

Live events, presence and bans reach streams held by the other process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from chatview_identity import KeyPair
from chatview_proto import admin_pb2
from chatview_proto.common import types_pb2
from chatview_server.testing import ProtocolClient, ServerProcess, wait_for_event


@pytest.fixture(scope="module")
def pair(
    module_dsn: str, admin_keypair: KeyPair, relaxed_limits: dict[str, object]
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes sharing the module's database and passing events through it."""
    config: dict[str, object] = {
        "admin_pub_key": admin_keypair.public_key.hex,
        "event_backend": "postgres",
        **relaxed_limits,
    }
    with (
        ServerProcess(dsn=module_dsn, config=config) as first,
        ServerProcess(dsn=module_dsn, config={**config, "skip_migrations": True}) as second,
    ):
        yield first, second


@pytest.fixture
async def channels(
    pair: tuple[ServerProcess, ServerProcess],
) -> AsyncIterator[tuple[grpc.aio.Channel, grpc.aio.Channel]]:
    async with (
        grpc.aio.insecure_channel(pair[0].address) as first,
        grpc.aio.insecure_channel(pair[1].address) as second,
    ):
        yield first, second


class TestCrossProcess:
    async def test_message_reaches_other_process(
        self, channels: tuple[grpc.aio.Channel, grpc.aio.Channel]
    ) -> None:
        """A message sent through process 1 reaches the receiver's stream on process 2."""
        alice = await ProtocolClient(channels[0]).login()
        bob = await ProtocolClient(channels[1]).login()
        stream = await bob.subscribe()

        sent = await alice.send(bob.key, "across processes")
        event = await wait_for_event(stream, "new_message")

        assert sent.message_id == event.new_message.message.id
        assert 1 == event.new_message.count
        stream.cancel()

    async def test_sender_device_on_other_process(
        self, channels: tuple[grpc.aio.Channel, grpc.aio.Channel]
    ) -> None:
        """The sender's other device, on the other process, gets its own message."""
        keypair, bob = KeyPair.generate(), await ProtocolClient(channels[0]).login()
        sender = await ProtocolClient(channels[0], keypair).login()
        tablet = await ProtocolClient(channels[1], keypair).login()
        stream = await tablet.subscribe("tablet")

        sent = await sender.send(bob.key, "from the phone")
        event = await wait_for_event(stream, "new_message")

        assert sent.message_id == event.new_message.message.id
        assert types_pb2.MESSAGE_DELIVERY_SENT == event.new_message.message.delivery
        stream.cancel()

    async def test_presence_across_processes(
        self, channels: tuple[grpc.aio.Channel, grpc.aio.Channel]
    ) -> None:
        """A user online on process 2 is seen online, then offline, from process 1."""
        alice = await ProtocolClient(channels[0]).login()
        bob = await ProtocolClient(channels[1]).login()
        await alice.add_friend(bob.key, "bob")
        alice_stream = await alice.subscribe()

        bob_stream = await bob.subscribe()
        online = await wait_for_event(alice_stream, "friend_status")
        friends = (await alice.friends()).friends
        bob_stream.cancel()
        offline = await wait_for_event(alice_stream, "friend_status")

        assert (bob.key, "bob", True) == (
            online.friend_status.public_key,
            online.friend_status.alias,
            online.friend_status.is_online,
        )
        assert [True] == [friend.is_online for friend in friends]
        assert not offline.friend_status.is_online
        alice_stream.cancel()

    async def test_ban_closes_streams_elsewhere(
        self,
        channels: tuple[grpc.aio.Channel, grpc.aio.Channel],
        admin_keypair: KeyPair,
    ) -> None:
        """A ban through process 1 ends the target's stream on process 2."""
        admin = await ProtocolClient(channels[0], admin_keypair).login()
        mallory = await ProtocolClient(channels[1]).login()
        stream = await mallory.subscribe()

        await admin.admin.SetUserStatus(
            admin_pb2.SetUserStatusReq(
                target_public_key=mallory.key, status=types_pb2.USER_STATUS_BANNED
            ),
            metadata=admin.metadata,
        )

        event = await wait_for_event(stream, "force_offline", timeout=5)
        assert "account_banned" == event.force_offline.reason
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await stream.read()
        assert grpc.StatusCode.PERMISSION_DENIED == failure.value.code()
