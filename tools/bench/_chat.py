"""Measures against a ChatView server: send, login, growth and the client's outbox."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import grpc
from bench_store import FRIENDS_OF_OWNER, HOT_PEER, OWNER, _load, key_of

from chatview_client import ChatClient, ClientConfig, ConnectionState
from chatview_identity import KeyPair
from chatview_proto import chat_pb2, events_pb2
from chatview_proto.common import types_pb2
from chatview_server._interceptors import hash_token
from chatview_server.testing import ProtocolClient, ServerProcess
from chatview_store_pg import open_store
from chatview_store_pg.testing import TemporaryPostgres

from ._baseline import ECHO, PUBLISH, SUBSCRIBE, event_tag, publish_request
from ._loadgen import Arrivals, Latency, closed_loop, paced

# Every sent text has this many characters, so every run sends the same bytes.
TEXT_CHARS = 32
# How long to wait, after the load, for acknowledged messages still on their way.
ARRIVAL_GRACE = 30.0


def message_text(phase: str, number: int) -> str:
    """Return the text of message `number` of `phase`: unique, TEXT_CHARS long."""
    return f"{phase}{number:09d}-".ljust(TEXT_CHARS, "x")


@attrs.frozen
class MessageSizes:
    """Encoded sizes, in bytes, of a send request, its reply and its event."""

    request: int
    reply: int
    event: int

    @classmethod
    def of_chatview(cls) -> MessageSizes:
        """Measure the protobuf encodings of a typical send, as the server makes them."""
        key = secrets.token_hex(32)
        text = message_text("s", 0)
        request = chat_pb2.SendMessageReq(
            receiver_public_key=key, text=text, client_message_id=str(uuid.uuid4())
        )
        timestamp = datetime.now(UTC).isoformat()
        reply = chat_pb2.SendMessageResp(
            message_id=str(uuid.uuid4()), timestamp=timestamp, server_seq=100_000
        )
        event = events_pb2.ServerEvent(
            new_message=events_pb2.NewMessageEvent(
                from_public_key=key,
                count=1,
                message=types_pb2.ChatMessage(
                    id=str(uuid.uuid4()),
                    sender_public_key=key,
                    text=text,
                    timestamp=timestamp,
                    delivery=types_pb2.MESSAGE_DELIVERY_INCOMING,
                    server_seq=100_000,
                ),
                peer_public_key=key,
            )
        )
        return cls(request.ByteSize(), reply.ByteSize(), event.ByteSize())


# Send


@attrs.frozen
class SendFigures:
    """Throughput with a fixed number of calls in flight, then latency at a set rate."""

    per_second: float
    latency: Latency
    paced_rate: float
    acknowledged: int
    missing: int
    duplicated: int
    retried: int


async def _read_chat_events(stream: Any, arrivals: Arrivals) -> None:
    with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
        while (event := await stream.read()) is not grpc.aio.EOF:
            if event.WhichOneof("event") == "new_message":
                arrivals.record(event.new_message.message.text)


async def measure_send(
    address: str, *, pairs: int, in_flight: int, duration: float, warm_up: float
) -> SendFigures:
    """Send between `pairs` sender/receiver pairs: first closed loop, then paced at half rate.

    Every acknowledged message must reach its receiver's event stream exactly once;
    a send that fails with UNAVAILABLE is retried with the same idempotency key.
    """
    send_channel = grpc.aio.insecure_channel(address)
    event_channel = grpc.aio.insecure_channel(address)
    try:
        users = [
            (
                await ProtocolClient(send_channel).login(),
                await ProtocolClient(event_channel).login(),
            )
            for _ in range(pairs)
        ]
        arrivals = Arrivals()
        streams = [await receiver.subscribe("bench") for _, receiver in users]
        readers = [asyncio.create_task(_read_chat_events(s, arrivals)) for s in streams]
        started: dict[str, float] = {}
        acknowledged: set[str] = set()
        retried = 0
        numbers = itertools.count()

        async def send(text: str) -> None:
            nonlocal retried
            sender, receiver = users[next(numbers) % pairs]
            key = str(uuid.uuid4())
            started[text] = time.perf_counter()
            while True:
                try:
                    await sender.send(receiver.key, text, client_message_id=key)
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                        raise
                    retried += 1
                    await asyncio.sleep(0.05)
            acknowledged.add(text)

        counter = itertools.count()
        rate = await closed_loop(
            lambda _worker: send(message_text("t", next(counter))),
            in_flight=in_flight,
            duration=duration,
            warm_up=warm_up,
        )
        await paced(lambda n: send(message_text("p", n)), rate=rate / 2, duration=duration)

        await arrivals.wait_for(acknowledged, ARRIVAL_GRACE)
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        latencies = [
            (first - started[text]) * 1000
            for text in started
            if text.startswith("p") and (first := arrivals.first(text)) is not None
        ]
        return SendFigures(
            per_second=rate,
            latency=Latency.of(latencies),
            paced_rate=rate / 2,
            acknowledged=len(acknowledged),
            missing=len(acknowledged - arrivals.times.keys()),
            duplicated=arrivals.duplicated(),
            retried=retried,
        )
    finally:
        await send_channel.close()
        await event_channel.close()


# Baseline


async def measure_echo(
    address: str, sizes: MessageSizes, *, in_flight: int, duration: float, warm_up: float
) -> float:
    """Return the bare echo's calls per second with `in_flight` calls open."""
    async with grpc.aio.insecure_channel(address) as channel:
        echo: Any = channel.unary_unary(ECHO)
        request = b"q" * sizes.request

        async def call(_worker: int) -> None:
            await echo(request)

        return await closed_loop(call, in_flight=in_flight, duration=duration, warm_up=warm_up)


async def _read_relay_events(stream: Any, arrivals: Arrivals) -> None:
    with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
        while (event := await stream.read()) is not grpc.aio.EOF:
            arrivals.record(event_tag(event))


async def measure_relay(
    address: str, sizes: MessageSizes, *, receivers: int, rate: float, duration: float
) -> Latency:
    """Return publish-to-event latency of the bare relay, publishing at `rate` per second."""
    send_channel = grpc.aio.insecure_channel(address)
    event_channel = grpc.aio.insecure_channel(address)
    try:
        publish: Any = send_channel.unary_unary(PUBLISH)
        subscribe: Any = event_channel.unary_stream(SUBSCRIBE)
        arrivals = Arrivals()
        streams = [subscribe(f"r{n}".encode()) for n in range(receivers)]
        for stream in streams:
            await stream.initial_metadata()
        readers = [asyncio.create_task(_read_relay_events(s, arrivals)) for s in streams]
        started: dict[str, float] = {}

        async def call(number: int) -> None:
            tag = message_text("p", number)
            started[tag] = time.perf_counter()
            await publish(publish_request(f"r{number % receivers}", tag, sizes.request))

        await paced(call, rate=rate, duration=duration)
        await arrivals.wait_for(set(started), ARRIVAL_GRACE)
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        return Latency.of(
            [
                (first - started[tag]) * 1000
                for tag in started
                if (first := arrivals.first(tag)) is not None
            ]
        )
    finally:
        await send_channel.close()
        await event_channel.close()


# Login


async def measure_login(address: str, *, in_flight: int, duration: float, warm_up: float) -> float:
    """Return challenge-plus-login pairs per second with `in_flight` logins open.

    Each worker cycles through keys of its own, because a key has one live challenge
    at a time. Every key logged in once before the timing, so these are returning users.
    """
    keys_each = 4
    async with grpc.aio.insecure_channel(address) as channel:
        clients = [
            [ProtocolClient(channel, KeyPair.generate()) for _ in range(keys_each)]
            for _ in range(in_flight)
        ]
        await asyncio.gather(*(client.login() for own in clients for client in own))
        turns = [itertools.cycle(own) for own in clients]

        async def call(worker: int) -> None:
            await next(turns[worker]).login()

        return await closed_loop(call, in_flight=in_flight, duration=duration, warm_up=warm_up)


# Growth


@attrs.frozen
class ReadFigures:
    """Read latencies of one data set, by name of the read."""

    messages: int
    reads: dict[str, Latency]


async def _sessions_for(dsn: str, keys: list[str]) -> list[str]:
    """Open a session for each of `keys` directly in the store; return the bearer tokens.

    The bulk-loaded users have made-up keys without a private key, so they cannot
    log in by signature. A stored session is what a login would have created.
    """
    tokens = []
    store = await open_store(dsn, pool_size=2)
    try:
        expires = datetime.now(UTC) + timedelta(hours=1)
        for key in keys:
            token = secrets.token_urlsafe(32)
            await store.create_session(hash_token(token), key, "bench", expires)
            tokens.append(token)
    finally:
        await store.close()
    return tokens


async def _rekey(dsn: str, old: str, new: str) -> None:
    """Give the loaded user `old` the key `new`, in every row that names it.

    The loader numbers its users, and the server accepts only keys that are Ed25519
    points as arguments, so a peer the benchmark names in a request needs a real key.
    The new user row comes first and the old one goes last, so the foreign keys hold
    at every statement. `new` must sort after every key `old` shares a conversation with.
    """
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO users (public_key, change_seq) "
                "SELECT $2, change_seq FROM users WHERE public_key = $1",
                old,
                new,
            )
            for table, column in (
                ("conversations", "user_low"),
                ("conversations", "user_high"),
                ("messages", "sender_key"),
                ("conversation_members", "public_key"),
                ("conversation_members", "peer_key"),
            ):
                await connection.execute(
                    f"UPDATE {table} SET {column} = $2 WHERE {column} = $1",  # noqa: S608
                    old,
                    new,
                )
            await connection.execute("DELETE FROM users WHERE public_key = $1", old)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def _add_friends(dsn: str, owner: str, count: int) -> None:
    """Give `owner` `count` added contacts, each of whom sent it one message."""
    store = await open_store(dsn, pool_size=2)
    try:
        await store.ensure_user(owner)
        for number in range(count):
            friend = key_of(0x7000_0000 + number)
            await store.ensure_user(friend)
            await store.add_friend(owner, friend, f"friend {number}")
            await store.send_message(friend, owner, "hello", f"friend-{number}")
    finally:
        await store.close()


async def _timings(call: Callable[[], Any], samples: int) -> Latency:
    for _ in range(min(20, samples)):
        await call()
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - start) * 1000)
    return Latency.of(timings)


async def measure_reads(
    postgres: TemporaryPostgres,
    config: dict[str, object],
    size: int,
    *,
    samples: int,
    many_friends: int,
) -> ReadFigures:
    """Load `size` messages (bench_store's data set) and time reads through the server.

    With `many_friends` above zero, also time the friend list of a user with that
    many contacts.
    """
    dsn = postgres.create_database()
    try:
        # The server's migrations make the schema; the loader fills it.
        async with ServerProcess(dsn=dsn, config=config) as server:
            shape = await _load(dsn, size)
            hot_peer = KeyPair.generate().public_key.hex
            while hot_peer <= OWNER:  # the conversation's pair stays ordered
                hot_peer = KeyPair.generate().public_key.hex
            await _rekey(dsn, HOT_PEER, hot_peer)
            crowded = key_of(0x6000_0000)
            if many_friends:
                await _add_friends(dsn, crowded, many_friends)
            tokens = await _sessions_for(dsn, [OWNER, crowded] if many_friends else [OWNER])
            async with grpc.aio.insecure_channel(server.address) as channel:
                owner = ProtocolClient(channel)
                owner.token = tokens[0]
                deepest = shape["hot"]
                reads = {
                    "history, newest page": await _timings(
                        lambda: owner.history(hot_peer), samples
                    ),
                    "history, random cursor": await _timings(
                        lambda: owner.history(
                            hot_peer,
                            cursor=str(random.randint(31, max(31, deepest))),  # noqa: S311
                        ),
                        samples,
                    ),
                    f"friend list, {FRIENDS_OF_OWNER} entries": await _timings(
                        owner.friends, samples
                    ),
                }
                if many_friends:
                    crowd = ProtocolClient(channel)
                    crowd.token = tokens[1]
                    reads[f"friend list, {many_friends} entries"] = await _timings(
                        crowd.friends, samples
                    )
        return ReadFigures(messages=shape["messages"], reads=reads)
    finally:
        postgres.drop_database(dsn)


# Client outbox


@attrs.frozen
class OutboxFigures:
    """How long a queued outbox took to drain once the server was back."""

    queued: int
    drain_seconds: float
    online_seconds: float
    stored: int


async def measure_outbox(server: ServerProcess, *, messages: int) -> OutboxFigures:
    """Queue `messages` while the server is down, restart it, time until the outbox is empty.

    The clock starts when the restarted server reports SERVING; `online_seconds` is
    when the client had logged in and resubscribed. `stored` is the last server_seq
    of the conversation. The table checks that it equals `messages`, which holds
    when each message was stored exactly once.
    """
    async with grpc.aio.insecure_channel(server.address) as channel:
        peer = await ProtocolClient(channel).login()
    with tempfile.TemporaryDirectory(prefix="chatview-bench-client-") as folder:
        config = ClientConfig(
            data_dir=Path(folder),
            grpc_target=server.address,
            grpc_tls=False,
            retry_initial_delay=0.05,
            retry_max_delay=0.5,
            reconnect_max_delay=0.2,
        )
        async with ChatClient(config, KeyPair.generate(), client_id="bench") as client:

            def is_online() -> bool:
                return client.connection_state is ConnectionState.ONLINE

            await client.wait_online(timeout=30)
            await server.astop()
            # The client's state has no "changed" signal to await here; polling is enough.
            while is_online():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            for number in range(messages):
                await client.send_message(peer.key, message_text("o", number))

            await server.arestart()
            restarted = time.perf_counter()
            online = 0.0
            deadline = restarted + 300
            while client.outbox() and time.perf_counter() < deadline:
                if not online and is_online():
                    online = time.perf_counter() - restarted
                await asyncio.sleep(0.005)
            drained = time.perf_counter() - restarted
            left = len(client.outbox())
    async with grpc.aio.insecure_channel(server.address) as channel:
        peer = await ProtocolClient(channel, peer.keypair).login()
        page = await peer.history(client.public_key, limit=1)
    stored = page.page.messages[-1].server_seq if page.page.messages else 0
    return OutboxFigures(
        queued=messages,
        drain_seconds=drained if not left else float("inf"),
        online_seconds=online,
        stored=stored,
    )
