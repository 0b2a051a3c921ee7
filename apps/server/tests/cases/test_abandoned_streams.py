"""Server streams that keep running after the client is gone: a handler blocked on a
cancelled stream, a vanished client still counted online, a thread or task leaked
per subscription.

Alice leaves her stream by cancelling it, by ``kill -9`` of her process, and by
closing the channel; after each she must be offline on the server, and afterwards
the server's threads are back to the baseline and other users are served. Scaled
from 50 rounds (20 cancel, 10 kill, 20 close) to 10 (4, 2, 4); every way of
leaving is still played. The case's bound of 1 s is allowed 5 s here, so a loaded
machine does not make the test flaky.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import grpc
import psutil

from chatview_identity import KeyPair
from chatview_proto import admin_pb2
from chatview_server.testing import ProtocolClient, ServerProcess

from .conftest import Subscriber

# A client process that subscribes as the given session, says "ready", and waits.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import grpc
    from chatview_proto import events_pb2, events_pb2_grpc

    async def main() -> None:
        address, token = sys.argv[1], sys.argv[2]
        async with grpc.aio.insecure_channel(address) as channel:
            call = events_pb2_grpc.EventServiceStub(channel).Subscribe(
                events_pb2.SubscribeReq(client_id="child"),
                metadata=(("authorization", "Bearer " + token),),
            )
            await call.initial_metadata()
            print("ready", flush=True)
            async for _ in call:
                pass

    asyncio.run(main())
    """
)


async def is_online(admin: ProtocolClient, key: str) -> bool:
    update = (
        await admin.admin.PollAdminEvents(admin_pb2.PollAdminEventsReq(), metadata=admin.metadata)
    ).update
    return any(user.is_online for user in update.users if user.public_key == key)


async def until_offline(admin: ProtocolClient, key: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while await is_online(admin, key):
        assert time.monotonic() < deadline, f"{key[:8]} still online after {within} s"
        await asyncio.sleep(0.05)


class TestAbandonedStreams:
    async def test_every_way_of_leaving_is_reaped(
        self,
        server: ServerProcess,
        admin: ProtocolClient,
        subscribe: Subscriber,
    ) -> None:
        """Cancel, kill -9 and channel close each end the stream on the server."""
        process = psutil.Process(server.pid)
        alice_key = KeyPair.generate()
        async with grpc.aio.insecure_channel(server.address) as bob_channel:
            bob = await ProtocolClient(bob_channel).login()
            baseline = process.num_threads()
            ways = ["cancel"] * 4 + ["kill"] * 2 + ["close"] * 4

            for round_number, way in enumerate(ways):
                async with grpc.aio.insecure_channel(server.address) as channel:
                    alice = await ProtocolClient(channel, alice_key).login()
                    if way == "kill":
                        child = await asyncio.create_subprocess_exec(
                            sys.executable, "-c", CHILD, server.address, alice.token or "",
                            stdout=subprocess.PIPE,
                        )  # fmt: skip
                        assert child.stdout is not None
                        assert b"ready\n" == await child.stdout.readline()
                        assert await is_online(admin, alice.key)
                        child.kill()
                        await child.wait()
                    else:
                        stream = await alice.subscribe("a1")
                        assert await is_online(admin, alice.key)
                        if way == "cancel":
                            stream.cancel()
                        else:
                            await channel.close()
                    await until_offline(admin, alice.key)
                await bob.send(alice_key.public_key.hex, f"round {round_number}")

            async with grpc.aio.insecure_channel(server.address) as channel:
                alice = await ProtocolClient(channel, alice_key).login()
                waiting = (await alice.history(bob.key, limit=100)).page.messages
                assert [f"round {n}" for n in range(len(ways))] == [m.text for m in waiting]

            carol, dave = (
                await ProtocolClient(bob_channel).login(),
                await ProtocolClient(bob_channel).login(),
            )
            carol_stream = await subscribe(carol, "c1")
            for n in range(10):
                await dave.send(carol.key, f"dave {n}")
                await carol.send(dave.key, f"carol {n}")
            received = await carol_stream.events("new_message", quiet=0.5)
            assert 10 == len(received)
            assert process.num_threads() <= baseline + 2
