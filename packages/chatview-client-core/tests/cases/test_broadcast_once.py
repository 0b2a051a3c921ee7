"""System broadcasts missed by users who were offline or reconnecting.

The client keeps the newest broadcast id in its cache and passes it on every
(re)subscribe, so a device gets each broadcast once: live, or at its next connection
when it was offline or cut off, and never again after a reconnect. An expired
broadcast is not delivered. The case's minutes are scaled to seconds (the one-minute
expiry is one second, the 3 s cut-off is kept).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

from chatview_client import BroadcastReceived, ChatClient, Event, EventStream
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from ..integration.conftest import (  # noqa: TID252 - shared test helpers
    SERVER_CONFIG,
    ClientFactory,
    ServerFactory,
    until,
)
from .proxy import FaultProxy

FIRST = "系统维护通知：今晚 23:00–23:30 服务暂停"
SECOND = "维护已完成"
THIRD = "一分钟后过期的通知"


class Listener:
    """Collects the broadcasts one client reports."""

    def __init__(self, client: ChatClient) -> None:
        self.texts: list[str] = []
        self._stream: EventStream = client.events()
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for event in _events(self._stream):
            if isinstance(event, BroadcastReceived):
                self.texts.append(event.text)

    def stop(self) -> None:
        self._task.cancel()


async def _events(stream: EventStream) -> AsyncIterator[Event]:
    async for event in stream:
        yield event


async def start(
    server: ServerProcess, make_client: ClientFactory, key: KeyPair, device: str, **config: object
) -> tuple[ChatClient, Listener]:
    """Open a client with a listener attached before it connects."""
    client = await make_client(server, key, device=device, open_client=False, **config)
    await client.open()
    # Nothing is received before the next await, so the listener misses nothing.
    listener = Listener(client)
    await client.wait_online(20)
    return client, listener


def _heard(listener: Listener, expected: list[str]) -> bool:
    return expected == listener.texts


class TestBroadcastOnce:
    async def test_every_user_once_expired_never(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """Online, cut-off, offline and late users get each live broadcast once."""
        admin_key, alice_key, bob_key, carol_key, dave_key = (KeyPair.generate() for _ in range(5))
        server = chatview_server_factory(
            config={**SERVER_CONFIG, "admin_pub_key": admin_key.public_key.hex}
        )
        proxy = await FaultProxy.start(server.address)
        try:
            admin, _ = await start(server, make_client, admin_key, "admin")
            alice, alice_heard = await start(server, make_client, alice_key, "a1")
            bob, bob_heard = await start(
                server, make_client, bob_key, "b1", grpc_target=proxy.address
            )

            proxy.cut()
            await admin.broadcast(FIRST)
            await asyncio.sleep(3.0)
            proxy.restore()
            carol, carol_heard = await start(server, make_client, carol_key, "c1")
            await until(lambda: [FIRST] == bob_heard.texts, what="bob after reconnecting")
            await until(lambda: [FIRST] == carol_heard.texts, what="carol logging in late")
            assert [FIRST] == alice_heard.texts

            # Everyone disconnects and reconnects: nothing is replayed.
            for client in (alice, bob, carol):
                await client.close()
            listeners = [
                await start(server, make_client, key, device)
                for key, device in ((alice_key, "a1"), (bob_key, "b1"), (carol_key, "c1"))
            ]
            await admin.broadcast(SECOND)
            await admin.broadcast(THIRD, expires_in=1)
            for _, heard in listeners:
                await until(partial(_heard, heard, [SECOND, THIRD]), what="live")

            await asyncio.sleep(1.5)
            _, dave_heard = await start(server, make_client, dave_key, "d1")
            await until(lambda: [FIRST, SECOND] == dave_heard.texts, what="dave's catch-up")
            await asyncio.sleep(0.5)
            assert [FIRST, SECOND] == dave_heard.texts
            for heard in (alice_heard, bob_heard, carol_heard, dave_heard):
                heard.stop()
            for _, heard in listeners:
                heard.stop()
        finally:
            await proxy.close()

    async def test_not_unread_anywhere(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """A broadcast opens no conversation, so no badge counts it; its text is intact."""
        admin_key, user_key = KeyPair.generate(), KeyPair.generate()
        server = chatview_server_factory(
            config={**SERVER_CONFIG, "admin_pub_key": admin_key.public_key.hex}
        )
        admin, _ = await start(server, make_client, admin_key, "admin")
        user, heard = await start(server, make_client, user_key, "u1")

        await admin.broadcast(FIRST)

        await until(lambda: [FIRST] == heard.texts, what="the broadcast")
        assert [] == [f for f in await user.refresh_friends() if f.unread]
        heard.stop()
