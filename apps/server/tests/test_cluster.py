"""Three server processes on one database, with clients spread over them.

Every scenario runs once with ``event_backend: postgres`` and once with ``nats``
(skipped when no NATS server accepts connections at ``CHATVIEW_TEST_NATS_URL``, by default
``nats://127.0.0.1:4222``). The failover test puts a `TcpBalancer` in front of a
fresh cluster, kills the process a `ChatClient` is on, and checks that the client
lands on another process and catches up with nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import asyncpg
import grpc
import pytest

from chatview_client import ChatClient, ClientConfig
from chatview_identity import KeyPair
from chatview_proto import admin_pb2, events_pb2
from chatview_proto.common import types_pb2
from chatview_server.testing import ProtocolClient, ServerProcess, TcpBalancer, wait_for_event
from chatview_store_pg.testing import TemporaryPostgres

NATS_URL: Final = os.environ.get("CHATVIEW_TEST_NATS_URL", "nats://127.0.0.1:4222")

# Short enough for the failover test to see a dead process reaped, long enough that a
# busy 2-core machine does not miss three heartbeats in a row.
HEAL_INTERVAL_S: Final = 6

EventStream = Any
Channels = tuple[grpc.aio.Channel, grpc.aio.Channel, grpc.aio.Channel]


def _nats_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 1.0):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module", params=["postgres", "nats"])
def backend(request: pytest.FixtureRequest) -> str:
    """The event backend of the cluster under test."""
    name: str = request.param
    if name == "nats" and not _nats_reachable(NATS_URL):
        pytest.skip(f"no NATS server accepts connections at {NATS_URL}; set CHATVIEW_TEST_NATS_URL")
    return name


def _start_cluster(
    stack: contextlib.ExitStack,
    dsn: str,
    backend: str,
    extra: dict[str, object],
    count: int = 3,
) -> list[ServerProcess]:
    config: dict[str, object] = {"event_backend": backend, **extra}
    if backend == "nats":
        # A subject of its own, so that other clusters on the same NATS stay apart.
        config |= {"nats_url": NATS_URL, "nats_subject": f"chatview.test.{uuid.uuid4().hex}"}
    first = stack.enter_context(ServerProcess(dsn=dsn, config=config))
    rest = [
        stack.enter_context(ServerProcess(dsn=dsn, config={**config, "skip_migrations": True}))
        for _ in range(count - 1)
    ]
    return [first, *rest]


@pytest.fixture(scope="module")
def cluster_dsn(backend: str, chatview_postgres: TemporaryPostgres) -> Iterator[str]:
    """A database for the cluster of one backend."""
    dsn = chatview_postgres.create_database()
    try:
        yield dsn
    finally:
        chatview_postgres.drop_database(dsn)


@pytest.fixture(scope="module")
def cluster(
    backend: str, cluster_dsn: str, admin_keypair: KeyPair, relaxed_limits: dict[str, object]
) -> Iterator[list[ServerProcess]]:
    """Three processes on a database of their own, passing events through `backend`."""
    with contextlib.ExitStack() as stack:
        config = {"admin_pub_key": admin_keypair.public_key.hex, **relaxed_limits}
        yield _start_cluster(stack, cluster_dsn, backend, config)


async def _processes_holding(dsn: str, user: str) -> int:
    """Count the processes where the presence ledger has `user` online."""
    connection = await asyncpg.connect(dsn)
    try:
        count = await connection.fetchval(
            "SELECT processes FROM hub_users WHERE user_key = $1", user
        )
    finally:
        await connection.close()
    return int(count or 0)


@pytest.fixture
async def channels(cluster: list[ServerProcess]) -> AsyncIterator[Channels]:
    async with (
        grpc.aio.insecure_channel(cluster[0].address) as a,
        grpc.aio.insecure_channel(cluster[1].address) as b,
        grpc.aio.insecure_channel(cluster[2].address) as c,
    ):
        yield a, b, c


async def _same_user(channel: grpc.aio.Channel, user: ProtocolClient) -> ProtocolClient:
    """The session of `user`, used through another process's channel."""
    twin = ProtocolClient(channel, user.keypair, client_id=user.client_id)
    twin.token = user.token
    return twin


async def _ends_with(stream: EventStream) -> grpc.StatusCode:
    """Wait until `stream` ends and return its status code."""
    async with asyncio.timeout(10):
        code: grpc.StatusCode = await stream.code()
    return code


class TestClusterEvents:
    async def test_message_reaches_every_process(self, channels: Channels) -> None:
        """A message sent through A reaches the receiver on B and C and the sender on C."""
        a, b, c = channels
        alice = await ProtocolClient(a).login()
        bob_phone = await ProtocolClient(b, client_id="phone").login()
        bob_laptop = await ProtocolClient(c, bob_phone.keypair, client_id="laptop").login()
        alice_tablet = await ProtocolClient(c, alice.keypair, client_id="tablet").login()
        streams = [
            await bob_phone.subscribe("phone"),
            await bob_laptop.subscribe("laptop"),
            await alice_tablet.subscribe("tablet"),
        ]

        sent = await alice.send(bob_phone.key, "to every process")
        events = [await wait_for_event(stream, "new_message") for stream in streams]

        assert [sent.message_id] * 3 == [event.new_message.message.id for event in events]
        for stream in streams:
            stream.cancel()

    async def test_presence_while_any_process_holds(
        self, channels: Channels, cluster_dsn: str
    ) -> None:
        """Bob stays online while one of his streams is open anywhere; the last one ends it."""
        a, b, c = channels
        alice = await ProtocolClient(a).login()
        bob_b = await ProtocolClient(b).login()
        bob_c = await _same_user(c, bob_b)
        await alice.add_friend(bob_b.key, "bob")
        watch = Reader(await alice.subscribe())

        on_b = await bob_b.subscribe("phone")
        online = await watch.wait_for("friend_status")
        on_c = await bob_c.subscribe("laptop")
        # Process C writes its presence in the background; closing B's stream first
        # would count Bob offline for a moment, which is correct but not this test.
        await until(lambda: _two_processes(cluster_dsn, bob_b.key), within=20, what="two processes")
        on_b.cancel()
        # A marker from Bob: an offline change for the closed stream would come first.
        await asyncio.sleep(1)
        await bob_c.send(alice.key, "still here")
        marker = await watch.next(10)
        on_c.cancel()
        offline = await watch.wait_for("friend_status")

        assert online.friend_status.is_online
        assert marker is not None
        assert "still here" == marker.new_message.message.text
        assert (bob_b.key, False) == (
            offline.friend_status.public_key,
            offline.friend_status.is_online,
        )
        watch.close()

    async def test_ban_ends_streams_everywhere(
        self, channels: Channels, admin_keypair: KeyPair
    ) -> None:
        """A ban through A ends the user's streams on B and C with account_banned."""
        a, b, c = channels
        admin = await ProtocolClient(a, admin_keypair).login()
        mallory = await ProtocolClient(b).login()
        streams = [
            await mallory.subscribe("b"),
            await (await _same_user(c, mallory)).subscribe("c"),
        ]

        await admin.admin.SetUserStatus(
            admin_pb2.SetUserStatusReq(
                target_public_key=mallory.key, status=types_pb2.USER_STATUS_BANNED
            ),
            metadata=admin.metadata,
        )
        events = [await wait_for_event(stream, "force_offline") for stream in streams]
        codes = [await _ends_with(stream) for stream in streams]

        assert ["account_banned"] * 2 == [event.force_offline.reason for event in events]
        assert [grpc.StatusCode.PERMISSION_DENIED] * 2 == codes

    async def test_broadcast_reaches_every_process(
        self, channels: Channels, admin_keypair: KeyPair
    ) -> None:
        """A broadcast through A reaches users streaming on B and C."""
        a, b, c = channels
        admin = await ProtocolClient(a, admin_keypair).login()
        streams = [
            await (await ProtocolClient(b).login()).subscribe(),
            await (await ProtocolClient(c).login()).subscribe(),
        ]
        text = f"maintenance {uuid.uuid4().hex[:6]}"

        await admin.admin.Broadcast(admin_pb2.BroadcastReq(text=text), metadata=admin.metadata)
        events = [await wait_for_event(stream, "system_broadcast") for stream in streams]

        assert [text, text] == [event.system_broadcast.text for event in events]
        for stream in streams:
            stream.cancel()

    async def test_admin_update_from_other_process(
        self, channels: Channels, admin_keypair: KeyPair
    ) -> None:
        """A new user logging in on B updates the admin panel streaming on C."""
        _, b, c = channels
        admin = await ProtocolClient(c, admin_keypair).login()
        stream = await admin.subscribe("panel")

        await ProtocolClient(b).login()
        event = await wait_for_event(stream, "admin_update")

        assert event.HasField("admin_update")
        stream.cancel()

    async def test_logout_ends_session_elsewhere(self, channels: Channels) -> None:
        """Logging out through A ends that session's stream on B, not the other on C."""
        a, b, c = channels
        alice = await ProtocolClient(a).login()
        phone = await ProtocolClient(b, client_id="phone").login()
        laptop = await ProtocolClient(c, phone.keypair, client_id="laptop").login()
        phone_stream = await phone.subscribe("phone")
        laptop_stream = await laptop.subscribe("laptop")

        await (await _same_user(a, phone)).logout()
        code = await _ends_with(phone_stream)
        await alice.send(phone.key, "after the logout")
        event = await wait_for_event(laptop_stream, "new_message")

        assert grpc.StatusCode.UNAUTHENTICATED == code
        assert "after the logout" == event.new_message.message.text
        laptop_stream.cancel()


class Reader:
    """Reads a stream in a task of its own, so waiting with a timeout keeps the stream.

    Cancelling a task blocked in ``read()`` would cancel the whole call.
    """

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._events: asyncio.Queue[events_pb2.ServerEvent] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError):
            while (event := await self._stream.read()) is not grpc.aio.EOF:
                self._events.put_nowait(event)

    async def next(self, within: float) -> events_pb2.ServerEvent | None:
        """The next event, or None when none comes within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                return await self._events.get()
        except TimeoutError:
            return None

    async def wait_for(self, kind: str, within: float = 10) -> events_pb2.ServerEvent:
        """Skip events until one of `kind`; fail the test after `within` seconds."""
        deadline = time.monotonic() + within
        while (event := await self.next(deadline - time.monotonic())) is not None:
            if event.WhichOneof("event") == kind:
                return event
        pytest.fail(f"no {kind} event within {within} s")

    def close(self) -> None:
        self._stream.cancel()
        self._task.cancel()


# -- failover: a killed process, a balancer, and a client that moves ----------------------


@pytest.fixture
def fresh_cluster(
    backend: str,
    chatview_postgres: TemporaryPostgres,
    relaxed_limits: dict[str, object],
) -> Iterator[list[ServerProcess]]:
    """Three processes of a test's own, with a short presence heal interval."""
    dsn = chatview_postgres.create_database()
    try:
        with contextlib.ExitStack() as stack:
            config = {**relaxed_limits, "presence_heal_interval": f"{HEAL_INTERVAL_S}s"}
            yield _start_cluster(stack, dsn, backend, config)
    finally:
        chatview_postgres.drop_database(dsn)


async def until(predicate: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    """Poll `predicate` until it is true; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting until {what}")
        await asyncio.sleep(0.1)


async def stored_history(channel: grpc.aio.Channel, keypair: KeyPair, peer: str) -> list[Any]:
    """The whole conversation with `peer` as the server stores it, oldest first."""
    reader = await ProtocolClient(channel, keypair, client_id="checker").login()
    messages: list[Any] = []
    cursor = ""
    while True:
        page = (await reader.history(peer, cursor=cursor, limit=100, direction="newer")).page
        messages.extend(page.messages)
        if not page.has_more:
            return messages
        cursor = str(page.messages[-1].server_seq)


class TestFailover:
    async def test_killed_process(self, fresh_cluster: list[ServerProcess], tmp_path: Path) -> None:
        """SIGKILL of Bob's process: Bob's client moves to another process through the
        balancer and catches up; Dave, who stays away, goes offline for Carol."""
        async with TcpBalancer([server.address for server in fresh_cluster]) as balancer:
            bob_key = KeyPair.generate()
            config = ClientConfig(
                data_dir=tmp_path / "bob",
                grpc_target=balancer.address,
                grpc_timeout=5.0,
                retry_initial_delay=0.1,
                retry_max_delay=1.0,
                reconnect_max_delay=0.5,
            )
            async with ChatClient(config, bob_key) as bob:
                await bob.wait_online(30)
                [victim_address] = balancer.open_links()
                victim = next(s for s in fresh_cluster if s.address == victim_address)
                survivor = next(s for s in fresh_cluster if s is not victim)
                await self._scenario(bob, bob_key, balancer, victim, survivor)

    async def _scenario(
        self,
        bob: ChatClient,
        bob_key: KeyPair,
        balancer: TcpBalancer,
        victim: ServerProcess,
        survivor: ServerProcess,
    ) -> None:
        async with (
            grpc.aio.insecure_channel(victim.address) as on_victim,
            grpc.aio.insecure_channel(survivor.address) as on_survivor,
        ):
            alice = await ProtocolClient(on_survivor).login()
            carol = await ProtocolClient(on_survivor).login()
            dave = await ProtocolClient(on_victim).login()
            await carol.add_friend(dave.key, "dave")
            await carol.add_friend(bob.public_key, "bob")
            dave_stream = await dave.subscribe()
            carol_stream = Reader(await carol.subscribe())
            before = [f"before {n}" for n in range(3)]
            for text in before:
                await alice.send(bob.public_key, text)
            await until(lambda: _cached(bob, alice.key, 3), within=20, what="Bob has 3")

            await victim.akill()
            killed_at = time.monotonic()
            during = [f"during {n}" for n in range(10)]
            for text in during:
                await alice.send(bob.public_key, text)
            await until(lambda: _cached(bob, alice.key, 13), within=60, what="Bob has 13")
            await until(
                lambda: _offline_seen(carol_stream, dave.key),
                within=HEAL_INTERVAL_S * 4 + 30,
                what="Carol sees Dave offline",
            )
            offline_after = time.monotonic() - killed_at
            await until(lambda: _online_for(carol, bob.public_key), within=30, what="Bob online")

            cached = await bob.history(alice.key, limit=100)
            stored = await stored_history(on_survivor, bob_key, alice.key)
            links = balancer.open_links()
            assert links
            assert victim.address not in links
            assert [*before, *during] == [message.text for message in cached]
            assert [(m.server_seq, m.sender_public_key, m.text) for m in stored] == [
                (m.server_seq, m.sender, m.text) for m in cached
            ]
            # Reaped after HEAL_INTERVAL_S of silence; the bound only catches a process
            # that is never reaped, since a busy machine stretches the timing.
            assert offline_after < HEAL_INTERVAL_S * 4 + 30
            dave_stream.cancel()
            carol_stream.close()


async def _two_processes(dsn: str, user: str) -> bool:
    return await _processes_holding(dsn, user) == 2


async def _cached(client: ChatClient, peer: str, count: int) -> bool:
    return len(await client.history(peer, limit=100)) >= count


async def _offline_seen(stream: Reader, user: str) -> bool:
    event = await stream.next(0.5)
    return (
        event is not None
        and event.HasField("friend_status")
        and event.friend_status.public_key == user
        and not event.friend_status.is_online
    )


async def _online_for(watcher: ProtocolClient, user: str) -> bool:
    friends = (await watcher.friends()).friends
    return any(friend.public_key == user and friend.is_online for friend in friends)


class TestRateLimitPerProcess:
    async def test_each_process_own_bucket(
        self, chatview_postgres: TemporaryPostgres, relaxed_limits: dict[str, object]
    ) -> None:
        """A user over the send limit on one process may still send on another: the
        buckets live in each process, so the cluster-wide limit is N times the limit."""
        dsn = chatview_postgres.create_database()
        limits = {**relaxed_limits, "send_rate_per_second": 0.01, "send_burst": 2}
        try:
            with contextlib.ExitStack() as stack:
                first, second = _start_cluster(stack, dsn, "postgres", limits, count=2)
                async with (
                    grpc.aio.insecure_channel(first.address) as a,
                    grpc.aio.insecure_channel(second.address) as b,
                ):
                    sender = await ProtocolClient(a).login()
                    receiver = await ProtocolClient(a).login()
                    for n in range(2):
                        await sender.send(receiver.key, f"burst {n}")
                    with pytest.raises(grpc.aio.AioRpcError) as limited:
                        await sender.send(receiver.key, "over the limit")
                    elsewhere = await (await _same_user(b, sender)).send(receiver.key, "on B")

                    assert grpc.StatusCode.RESOURCE_EXHAUSTED == limited.value.code()
                    assert elsewhere.message_id
        finally:
            chatview_postgres.drop_database(dsn)
