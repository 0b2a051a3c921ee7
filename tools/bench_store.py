"""Benchmark the ChatView store: send throughput, history and friend-list latency.

Usage::

    uv run python tools/bench_store.py [--duration 10] [--large 1000000]

Uses an embedded PostgreSQL in a temporary directory unless CHATVIEW_BENCH_DSN names
a server (the benchmark then creates and drops its own databases there). Prints:

* send transactions per second at concurrency 8 and 32 (one process, one event loop,
  random sender/receiver pairs among 200 users);
* p50/p99 latency of a history page (newest page, and a page at a random cursor
  deep in the conversation) and of a friend list, with 1,000 and with 1,000,000
  messages in the database, and the ratio between the two sizes.

The large data set is bulk-loaded with INSERT ... SELECT over generate_series, and the
store's counters (sequence numbers, per-member sent and read counts, last message) are
computed from the loaded rows, so the store reads it exactly as if it had been sent.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from chatview_store_pg import Store, open_store
from chatview_store_pg.testing import TEST_DSN_VARIABLE, TemporaryPostgres

BENCH_DSN_VARIABLE = "CHATVIEW_BENCH_DSN"
SEND_USERS = 200
LATENCY_SAMPLES = 400
FRIENDS_OF_OWNER = 20
FILLER_CONVERSATIONS = 200


def key_of(number: int) -> str:
    return f"{number:064x}"


OWNER = key_of(1)
HOT_PEER = key_of(2)


# Bulk loading


async def _load(dsn: str, total_messages: int) -> dict[str, int]:
    """Fill an empty store database with `total_messages` messages; return the shape.

    The owner (key 1) has FRIENDS_OF_OWNER conversations. The one with key 2 (the
    "hot" one) contains a fifth of all messages, and the owner's other conversations
    1 % each. The rest is spread over filler conversations between other users.
    """
    other_owner = total_messages // 100
    filler_total = total_messages - total_messages // 5 - other_owner * (FRIENDS_OF_OWNER - 1)
    filler_each = max(1, filler_total // FILLER_CONVERSATIONS)
    # The hot conversation takes what rounding left over, so the total is exact.
    hot = total_messages - other_owner * (FRIENDS_OF_OWNER - 1) - filler_each * FILLER_CONVERSATIONS
    user_count = 2 + FRIENDS_OF_OWNER + 2 * FILLER_CONVERSATIONS

    # (user_low, user_high, messages) for every conversation
    plan: list[tuple[int, int, int]] = [(1, 2, hot)]
    plan += [(1, 2 + n, other_owner) for n in range(1, FRIENDS_OF_OWNER)]
    first_filler = 2 + FRIENDS_OF_OWNER
    plan += [
        (first_filler + 2 * n, first_filler + 2 * n + 1, filler_each)
        for n in range(FILLER_CONVERSATIONS)
    ]

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "INSERT INTO users (public_key) "
            "SELECT lpad(to_hex(n), 64, '0') FROM generate_series(1, $1) AS n",
            user_count,
        )
        await connection.executemany(
            "INSERT INTO conversations (user_low, user_high, last_server_seq) "
            "VALUES (lpad(to_hex($1::int), 64, '0'), lpad(to_hex($2::int), 64, '0'), $3)",
            plan,
        )
        # Two thirds of each conversation come from user_low, one third from user_high.
        await connection.execute(
            """
            INSERT INTO messages (id, conversation_id, server_seq, sender_key,
                                  sender_ordinal, text, client_message_id, created_at)
            SELECT gen_random_uuid(), c.id, s.seq,
                   CASE WHEN s.seq % 3 = 0 THEN c.user_high ELSE c.user_low END,
                   CASE WHEN s.seq % 3 = 0 THEN s.seq / 3 ELSE s.seq - s.seq / 3 END,
                   'benchmark message number ' || s.seq,
                   'bulk-' || c.id || '-' || s.seq,
                   now() - make_interval(secs => c.last_server_seq - s.seq)
            FROM conversations c, generate_series(1, c.last_server_seq) AS s(seq)
            """
        )
        await connection.execute(
            """
            UPDATE conversations c SET last_message_id = m.id
            FROM messages m
            WHERE m.conversation_id = c.id AND m.server_seq = c.last_server_seq
            """
        )
        # Each member has read all but the newest 7 messages.
        await connection.execute(
            """
            INSERT INTO conversation_members (conversation_id, public_key, peer_key,
                sent_count, last_read_server_seq, read_peer_count, change_seq)
            SELECT c.id, pair.mine, pair.theirs,
                   (SELECT count(*) FROM messages m
                     WHERE m.conversation_id = c.id AND m.sender_key = pair.mine),
                   greatest(c.last_server_seq - 7, 0),
                   (SELECT count(*) FROM messages m
                     WHERE m.conversation_id = c.id AND m.sender_key = pair.theirs
                       AND m.server_seq <= greatest(c.last_server_seq - 7, 0)),
                   row_number() OVER (PARTITION BY pair.mine ORDER BY c.id)
            FROM conversations c
            CROSS JOIN LATERAL (VALUES (c.user_low, c.user_high), (c.user_high, c.user_low))
                AS pair(mine, theirs)
            """
        )
        await connection.execute(
            """
            UPDATE users u SET change_seq = m.top
            FROM (SELECT public_key, max(change_seq) AS top
                  FROM conversation_members GROUP BY public_key) m
            WHERE m.public_key = u.public_key
            """
        )
        await connection.execute("ANALYZE")
        stored = await connection.fetchval("SELECT count(*) FROM messages")
    finally:
        await connection.close()
    return {"messages": stored, "hot": hot, "users": user_count}


async def _check_counters(store: Store, dsn: str) -> None:
    """Fail loudly if the loaded counters disagree with a direct count."""
    connection = await asyncpg.connect(dsn)
    try:
        for entry in await store.list_friends(OWNER):
            direct = await connection.fetchval(
                """
                SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
                WHERE c.user_low = $1 AND c.user_high = $2 AND m.sender_key = $2
                  AND m.server_seq > $3
                """,
                min(OWNER, entry.public_key),
                max(OWNER, entry.public_key),
                entry.last_read_server_seq,
            )
            if direct != entry.unread:
                msg = f"counter mismatch for {entry.public_key}: {entry.unread} != {direct}"
                raise SystemExit(msg)
    finally:
        await connection.close()


# Measurements


async def _latencies(call: Callable[[], Awaitable[Any]], samples: int) -> list[float]:
    for _ in range(20):
        await call()
    timings: list[float] = []
    for _ in range(samples):
        start = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def _p(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


async def _read_latencies(dsn: str, hot: int) -> dict[str, tuple[float, float]]:
    store = await open_store(dsn, pool_size=2)
    try:
        await _check_counters(store, dsn)
        cursors = [str(random.randint(31, hot)) for _ in range(LATENCY_SAMPLES + 20)]  # noqa: S311
        deep = iter(cursors)
        results = {
            "history, newest page": await _latencies(
                lambda: store.get_history(OWNER, HOT_PEER), LATENCY_SAMPLES
            ),
            "history, random cursor": await _latencies(
                lambda: store.get_history(OWNER, HOT_PEER, cursor=next(deep)), LATENCY_SAMPLES
            ),
            f"friend list ({FRIENDS_OF_OWNER} entries)": await _latencies(
                lambda: store.list_friends(OWNER), LATENCY_SAMPLES
            ),
        }
    finally:
        await store.close()
    return {name: (_p(t, 0.5), _p(t, 0.99)) for name, t in results.items()}


async def _send_throughput(dsn: str, concurrency: int, duration: float) -> tuple[float, int, int]:
    """Return (transactions per second, successes, failures)."""
    store = await open_store(dsn, pool_size=concurrency, max_overflow=0)
    users = [key_of(n) for n in range(1, SEND_USERS + 1)]
    for user in users:
        await store.ensure_user(user)
    deadline = time.perf_counter() + duration
    done = 0
    failed = 0

    async def worker() -> None:
        nonlocal done, failed
        while time.perf_counter() < deadline:
            sender, receiver = random.sample(users, 2)
            try:
                await store.send_message(sender, receiver, "benchmark", str(uuid.uuid4()))
            except Exception:
                failed += 1
            else:
                done += 1

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await store.close()
    return done / (time.perf_counter() - start), done, failed


async def main(arguments: argparse.Namespace) -> None:
    external = os.environ.get(BENCH_DSN_VARIABLE, "")
    postgres = TemporaryPostgres.start(environ={TEST_DSN_VARIABLE: external} if external else {})
    print(f"PostgreSQL: {'external server' if external else 'embedded (temporary directory)'}")
    try:
        sends: list[tuple[int, tuple[float, int, int]]] = []
        for concurrency in (8, 32):
            dsn = postgres.create_database(schema=True)
            sends.append(
                (concurrency, await _send_throughput(dsn, concurrency, arguments.duration))
            )
            postgres.drop_database(dsn)

        reads: dict[int, dict[str, tuple[float, float]]] = {}
        for size in (arguments.small, arguments.large):
            dsn = postgres.create_database(schema=True)
            started = time.perf_counter()
            shape = await _load(dsn, size)
            print(f"loaded {shape['messages']:,} messages in {time.perf_counter() - started:.1f} s")
            reads[size] = await _read_latencies(dsn, shape["hot"])
            postgres.drop_database(dsn)
    finally:
        postgres.close()

    print()
    print(f"{'send path':<34}{'tx/s':>10}{'ok':>10}{'failed':>8}")
    for concurrency, (rate, done, failed) in sends:
        print(f"{'concurrency ' + str(concurrency):<34}{rate:>10.0f}{done:>10}{failed:>8}")
    print()
    small, large = arguments.small, arguments.large
    header = f"{'read latency, ms (p50 / p99)':<34}{small:>14,} msgs{large:>16,} msgs{'ratio':>14}"
    print(header)
    for name in reads[small]:
        small_p50, small_p99 = reads[small][name]
        large_p50, large_p99 = reads[large][name]
        print(
            f"{name:<34}{small_p50:>8.2f} / {small_p99:<6.2f}{large_p50:>10.2f} / {large_p99:<8.2f}"
            f"{large_p50 / small_p50:>6.2f} / {large_p99 / small_p99:.2f}"
        )
    print()
    print("ratio = large / small (p50 / p99); below 1.5 means cost does not grow with size")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per send-throughput run"
    )
    parser.add_argument("--small", type=int, default=1_000, help="messages in the small data set")
    parser.add_argument(
        "--large", type=int, default=1_000_000, help="messages in the large data set"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    # Retries under load are expected; show only warnings and errors.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main(_parse(sys.argv[1:])))
