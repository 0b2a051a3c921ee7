"""Keepalive mismatch: GOAWAY ``too_many_pings`` on a long idle stream, or pings that
stop so a dead link goes unnoticed.

The server accepts client pings as often as ``keepalive_min_ping_interval``, also with
no call open; the client pings no more often than that and keeps pinging an idle
stream (``max_pings_without_data`` 0). The idle period of 10 minutes is scaled to 6 s
with every keepalive setting scaled to 1 s; the misbehaving client pings five times
per interval the server allows, for 8 s instead of 2 minutes.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from chatview_client import (
    ChatClient,
    ClientConfig,
    ConnectionState,
    ConnectionStateChanged,
    NewMessage,
)
from chatview_client._rpc import _channel_options
from chatview_identity import KeyPair
from chatview_server import load_config
from chatview_server._app import grpc_options

from ..integration.conftest import (  # noqa: TID252 - shared test helpers
    SERVER_CONFIG,
    ClientFactory,
    ServerFactory,
    server_history,
    until,
)

# Every keepalive setting of the server, scaled from seconds to one second.
SCALED_KEEPALIVE = {
    "keepalive_time": "1s",
    "keepalive_timeout": "1s",
    "keepalive_min_ping_interval": "1s",
}


class Recorder:
    """Records a client's connection changes and the texts it receives, with times."""

    def __init__(self, client: ChatClient) -> None:
        self.states: list[tuple[float, ConnectionState]] = []
        self.texts: list[str] = []
        self._stream = client.events()
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for event in self._stream:
            if isinstance(event, ConnectionStateChanged):
                self.states.append((time.monotonic(), event.state))
            elif isinstance(event, NewMessage):
                self.texts.append(event.message.text)

    def stop(self) -> None:
        self._task.cancel()


class TestKeepalivePolicy:
    def test_defaults_agree(self) -> None:
        """The client pings no more often than the server allows, and keeps pinging."""
        server = dict(grpc_options(load_config(environ={})))
        client = dict(_channel_options(ClientConfig()))

        assert (
            server["grpc.http2.min_ping_interval_without_data_ms"]
            <= (client["grpc.keepalive_time_ms"])
        )
        assert 1 == server["grpc.keepalive_permit_without_calls"]
        assert 0 == client["grpc.http2.max_pings_without_data"]


class TestIdleStream:
    async def test_idle_stream_survives(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """After a long silence the stream is still up and the next message arrives."""
        server = chatview_server_factory(config={**SERVER_CONFIG, **SCALED_KEEPALIVE})
        alice = await make_client(server, KeyPair.generate(), keepalive_time=1.0)
        bob = await make_client(server, KeyPair.generate())
        recorder = Recorder(alice)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))
        recorder.states.clear()

        await asyncio.sleep(6.0)
        await bob.send_message(alice.public_key, "还在吗？")

        await until(lambda: ["还在吗？"] == recorder.texts, what="the message after silence")
        assert [] == recorder.states
        assert ConnectionState.ONLINE is alice.connection_state
        recorder.stop()

    async def test_pinging_client_backs_off(
        self, chatview_server_factory: ServerFactory, make_client: ClientFactory
    ) -> None:
        """A client pinging too often may be sent GOAWAY, but it reconnects at most once
        a second and loses or repeats no message."""
        server = chatview_server_factory(config={**SERVER_CONFIG, **SCALED_KEEPALIVE})
        # The production reconnect backoff (1 s first), not the tests' short one.
        alice = await make_client(
            server,
            KeyPair.generate(),
            keepalive_time=0.2,
            retry_initial_delay=1.0,
            reconnect_max_delay=30.0,
        )
        bob_key = KeyPair.generate()
        bob = await make_client(server, bob_key)
        recorder = Recorder(alice)
        await asyncio.gather(alice.wait_online(20), bob.wait_online(20))

        sent = [f"第{n}条" for n in range(8)]
        for text in sent:
            await bob.send_message(alice.public_key, text)
            await asyncio.sleep(1.0)
        await until(lambda: not bob.outbox(), what="bob's outbox drained")
        await alice.wait_online(30)
        await alice.catch_up()

        await until(lambda: sorted(sent) == sorted(recorder.texts), what="every message once")
        attempts = [at for at, state in recorder.states if state is ConnectionState.CONNECTING]
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
        assert all(gap >= 0.9 for gap in gaps), gaps
        stored = await server_history(server, bob_key, alice.public_key)
        assert sent == [m.text for m in stored]
        recorder.stop()
