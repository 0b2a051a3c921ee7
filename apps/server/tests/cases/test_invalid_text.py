"""Invalid text on the wire: bytes that are not UTF-8 in a string field, which a
server could store or crash on.

A hand-built request puts ``b"\\xff\\xfe"`` in SendMessageReq.text; the call fails
with INVALID_ARGUMENT, nothing is stored and the server keeps serving.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest

from chatview_server.testing import ProtocolClient

ClientFactory = Callable[..., Awaitable[ProtocolClient]]


def send_request(receiver: str, text: bytes, key: bytes) -> bytes:
    """SendMessageReq encoded by hand: fields 1 (receiver), 2 (text), 3 (key)."""
    encoded_receiver = receiver.encode()
    return (
        b"\x0a" + bytes([len(encoded_receiver)]) + encoded_receiver
        + b"\x12" + bytes([len(text)]) + text
        + b"\x1a" + bytes([len(key)]) + key
    )  # fmt: skip


class TestInvalidUtf8:
    @pytest.mark.parametrize("text", [b"\xff\xfe", b"ok \xed\xa0\xbd end", b"\xc3"])
    async def test_invalid_utf8_stores_nothing(self, connect: ClientFactory, text: bytes) -> None:
        """Non-UTF-8 bytes, an encoded lone surrogate and a cut sequence all fail."""
        alice, bob = await connect(), await connect()
        raw = alice.channel.unary_unary(
            "/chatview.chat.ChatService/SendMessage",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )

        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await raw(send_request(bob.key, text, b"k1"), metadata=alice.metadata)

        assert grpc.StatusCode.INVALID_ARGUMENT == failure.value.code()
        assert "UTF-8" in (failure.value.details() or "")
        assert [] == list((await bob.history(alice.key)).page.messages)
        await alice.send(bob.key, "still serving")
