"""Very long messages: a length limit enforced only by clients, or counted in another
unit than the clients count.

The server counts code points and refuses more than 4000 (``max_message_chars``)
with INVALID_ARGUMENT naming the limit; a request above ``max_grpc_message_bytes``
is RESOURCE_EXHAUSTED. Requests go through the raw stub, which skips every check of
the client library.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest

from chatview_server.testing import ProtocolClient

ClientFactory = Callable[..., Awaitable[ProtocolClient]]

LIMIT = 4000
ACCEPTED = {"cjk": "中" * LIMIT, "emoji": "😀" * LIMIT, "lines": "第x行\n" * 1000}
REFUSED = {"cjk": "中" * (LIMIT + 1), "ascii": "a" * (LIMIT + 1), "emoji": "😀" * (LIMIT + 1)}


class TestServerLimit:
    @pytest.mark.parametrize("kind", sorted(ACCEPTED))
    async def test_limit_in_code_points_accepted(self, connect: ClientFactory, kind: str) -> None:
        """4000 code points of any width are stored and come back byte for byte."""
        alice, bob = await connect(), await connect()

        await alice.send(bob.key, ACCEPTED[kind])

        (stored,) = (await bob.history(alice.key)).page.messages
        assert ACCEPTED[kind].encode() == stored.text.encode()

    @pytest.mark.parametrize("kind", sorted(REFUSED))
    async def test_over_limit_refused(self, connect: ClientFactory, kind: str) -> None:
        """One code point over is INVALID_ARGUMENT with the limit, and nothing is stored."""
        alice, bob = await connect(), await connect()

        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await alice.send(bob.key, REFUSED[kind])

        assert grpc.StatusCode.INVALID_ARGUMENT == failure.value.code()
        assert str(LIMIT) in (failure.value.details() or "")
        assert [] == list((await bob.history(alice.key)).page.messages)

    async def test_five_megabytes_refused(self, connect: ClientFactory) -> None:
        """A 5 MB text is refused before the handler (RESOURCE_EXHAUSTED), or by it."""
        alice, bob = await connect(), await connect()

        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await alice.send(bob.key, "a" * 5_000_000)

        assert failure.value.code() in {
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.INVALID_ARGUMENT,
        }
        assert [] == list((await bob.history(alice.key)).page.messages)
        await alice.send(bob.key, "still serving")
