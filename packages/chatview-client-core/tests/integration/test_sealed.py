"""End-to-end sealed messages against a real server and PostgreSQL."""

from __future__ import annotations

import uuid

import grpc
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from chatview_client import UNDECRYPTABLE_TEXT, ChatClient, Message
from chatview_identity import KeyPair, seal_message
from chatview_proto import chat_pb2
from chatview_server.migrations import asyncpg_url
from chatview_server.testing import ProtocolClient, ServerProcess

from .conftest import ClientFactory, until

PLACEHOLDER = "[Encrypted message: update your ChatView client to read it]"


async def _pair(
    server: ServerProcess, make_client: ClientFactory
) -> tuple[KeyPair, ChatClient, KeyPair, ChatClient]:
    alice_keys, bob_keys = KeyPair.generate(), KeyPair.generate()
    alice = await make_client(server, alice_keys)
    bob = await make_client(server, bob_keys)
    await alice.wait_online(20)
    await bob.wait_online(20)
    await alice.add_friend(bob.public_key)
    await bob.add_friend(alice.public_key)
    return alice_keys, alice, bob_keys, bob


async def _texts(client: ChatClient, peer: str, count: int) -> list[Message]:
    """The conversation once `count` sent messages are in it."""
    found: list[Message] = []

    async def ready() -> bool:
        nonlocal found
        found = [m for m in await client.history(peer) if m.server_seq is not None]
        return len(found) >= count

    await until(ready, what=f"{count} messages with {peer[:8]}")
    return found


async def _rows(server: ServerProcess, sender: str) -> list[tuple[str, bytes | None]]:
    """(text, sealed_body) of every stored message of `sender`, read from the table."""
    assert server.dsn is not None
    engine = create_async_engine(asyncpg_url(server.dsn))
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                sa.text("SELECT text, sealed_body FROM messages WHERE sender_key = :key"),
                {"key": sender},
            )
            return [(row.text, row.sealed_body) for row in result]
    finally:
        await engine.dispose()


async def _flip_byte(server: ServerProcess, sender: str) -> None:
    assert server.dsn is not None
    engine = create_async_engine(asyncpg_url(server.dsn))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "UPDATE messages SET sealed_body = set_byte(sealed_body, 40, "
                    "get_byte(sealed_body, 40) # 1) WHERE sender_key = :key"
                ),
                {"key": sender},
            )
    finally:
        await engine.dispose()


class TestSealedExchange:
    async def test_both_read(self, server: ServerProcess, make_client: ClientFactory) -> None:
        """Each side reads the other's sealed message, marked encrypted."""
        _, alice, _, bob = await _pair(server, make_client)

        await alice.send_message(bob.public_key, "the key is under the mat 🔑")
        (received,) = await _texts(bob, alice.public_key, 1)
        await bob.send_message(alice.public_key, "thanks")
        messages = await _texts(alice, bob.public_key, 2)

        assert ("the key is under the mat 🔑", True) == (received.text, received.encrypted)
        assert [("the key is under the mat 🔑", True), ("thanks", True)] == [
            (m.text, m.encrypted) for m in messages
        ]

    async def test_database_holds_no_plaintext(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """The stored row has the placeholder and ciphertext; the plaintext bytes are absent."""
        _, alice, _, bob = await _pair(server, make_client)

        await alice.send_message(bob.public_key, "launch code 0451")
        await _texts(bob, alice.public_key, 1)
        ((text, sealed),) = await _rows(server, alice.public_key)

        assert PLACEHOLDER == text
        assert sealed is not None
        assert b"launch code 0451" not in sealed
        assert b"0451" not in sealed

    async def test_second_device(self, server: ServerProcess, make_client: ClientFactory) -> None:
        """Another device of the author opens the author's own sealed message."""
        alice_keys, alice, _, bob = await _pair(server, make_client)
        await alice.send_message(bob.public_key, "from the phone")
        await _texts(bob, alice.public_key, 1)

        laptop = await make_client(server, alice_keys, device="laptop")
        await laptop.wait_online(20)
        (seen,) = await _texts(laptop, bob.public_key, 1)

        assert ("from the phone", True, False) == (seen.text, seen.encrypted, seen.undecryptable)

    async def test_old_client_sees_placeholder(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """A client built from the original contract reads the placeholder, not nothing."""
        _, alice, bob_keys, bob = await _pair(server, make_client)
        await alice.send_message(bob.public_key, "you cannot read this")
        await _texts(bob, alice.public_key, 1)

        async with grpc.aio.insecure_channel(server.address) as channel:
            old = await ProtocolClient(channel, bob_keys, client_id="old-desktop").login()
            page = (await old.history(alice.public_key)).page
        # Contract fields only: what the existing Go clients read.
        contract_view = [(m.sender_public_key, m.text, m.server_seq) for m in page.messages]

        assert [(alice.public_key, PLACEHOLDER, 1)] == contract_view

    async def test_tampered_row(self, server: ServerProcess, make_client: ClientFactory) -> None:
        """A changed ciphertext shows as undecryptable with the fixed text."""
        _, alice, bob_keys, bob = await _pair(server, make_client)
        await alice.send_message(bob.public_key, "original words")
        await _texts(bob, alice.public_key, 1)

        await _flip_byte(server, alice.public_key)
        tablet = await make_client(server, bob_keys, device="tablet")
        await tablet.wait_online(20)
        (seen,) = await _texts(tablet, alice.public_key, 1)

        assert (UNDECRYPTABLE_TEXT, True, True) == (seen.text, seen.encrypted, seen.undecryptable)


class TestSealedWire:
    async def test_retry_deduplicated(self, server: ServerProcess) -> None:
        """A retry with the same sealed bytes is deduplicated; other bytes are ALREADY_EXISTS."""
        async with grpc.aio.insecure_channel(server.address) as channel:
            alice = await ProtocolClient(channel).login()
            bob = await ProtocolClient(channel).login()
            sealed = seal_message(alice.keypair, bob.keypair.public_key, "once")
            request = chat_pb2.SendMessageReq(
                receiver_public_key=bob.key, client_message_id=str(uuid.uuid4()), sealed_body=sealed
            )

            first = await alice.chat.SendMessage(request, metadata=alice.metadata)
            again = await alice.chat.SendMessage(request, metadata=alice.metadata)
            request.sealed_body = sealed + b"!"
            with pytest.raises(grpc.aio.AioRpcError) as conflict:
                await alice.chat.SendMessage(request, metadata=alice.metadata)

        assert (False, True) == (first.deduplicated, again.deduplicated)
        assert first.server_seq == again.server_seq
        assert grpc.StatusCode.ALREADY_EXISTS == conflict.value.code()

    async def test_oversize(self, server: ServerProcess) -> None:
        """A sealed body over the limit is INVALID_ARGUMENT naming the limit."""
        async with grpc.aio.insecure_channel(server.address) as channel:
            alice = await ProtocolClient(channel).login()
            bob = await ProtocolClient(channel).login()
            request = chat_pb2.SendMessageReq(
                receiver_public_key=bob.key,
                client_message_id=str(uuid.uuid4()),
                sealed_body=bytes(4000 * 4 + 512 + 1),
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await alice.chat.SendMessage(request, metadata=alice.metadata)

        assert grpc.StatusCode.INVALID_ARGUMENT == refused.value.code()
        assert "the maximum is 16512 bytes" in (refused.value.details() or "")

    async def test_text_with_sealed_refused(self, server: ServerProcess) -> None:
        """Plaintext next to a sealed body is refused, so it never gets stored."""
        async with grpc.aio.insecure_channel(server.address) as channel:
            alice = await ProtocolClient(channel).login()
            bob = await ProtocolClient(channel).login()
            request = chat_pb2.SendMessageReq(
                receiver_public_key=bob.key,
                text="leaked",
                client_message_id=str(uuid.uuid4()),
                sealed_body=b"\x01" + bytes(80),
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await alice.chat.SendMessage(request, metadata=alice.metadata)

        assert grpc.StatusCode.INVALID_ARGUMENT == refused.value.code()

    async def test_capability_listed(
        self, server: ServerProcess, make_client: ClientFactory
    ) -> None:
        """A user whose client announced sealed bodies is listed with supports_sealed."""
        _, alice, _, bob = await _pair(server, make_client)

        friends = await alice.refresh_friends()

        assert [True] == [f.supports_sealed for f in friends if f.public_key == bob.public_key]
