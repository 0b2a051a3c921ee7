"""Faults, with nothing lost: clients with outboxes chat while the suite breaks things.

Twenty `ChatClient`s (the real client library, each with its own SQLite cache and
outbox) send messages to one another through a loopback `FaultProxy`, while a fault
plan kills the server with SIGKILL and restarts it, restarts PostgreSQL, and cuts every
client connection at the proxy. Afterwards it checks, against PostgreSQL directly:

1. every message a client accepted (``send_message`` returned) is stored exactly once,
   and nothing else is stored (a resend under a new key would be a duplicate);
2. every conversation's ``server_seq`` runs 1..n with no gap, and the conversation
   row's ``last_server_seq`` is n;
3. every client's cache holds exactly the server's messages of its conversations, with
   the text that was sent, and no message still pending.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import asyncpg
import attrs

from chatview_client import ChatClient, ClientConfig, OutboxState
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from ._common import Report, ResourceSampler, load_fault_proxy
from ._postgres import RestartablePostgres, libpq_dsn

__all__ = ["FaultPlan", "run_faults"]


@attrs.frozen(kw_only=True)
class FaultPlan:
    """Size and fault counts of the scenario; the defaults are the full-size run (``--long``)."""

    clients: int = 20
    messages_per_client: int = 500
    server_kills: int = 5
    postgres_restarts: int = 2
    connection_cuts: int = 10
    # Quiet time after each fault, so traffic flows between faults.
    pause: float = 3.0
    postgres_downtime: float = 2.0
    cut_downtime: float = 1.0
    settle_timeout: float = 240.0
    seed: int = 1


def _fault_order(plan: FaultPlan, rng: random.Random) -> list[str]:
    faults = (
        ["kill"] * plan.server_kills
        + ["postgres"] * plan.postgres_restarts
        + ["cut"] * plan.connection_cuts
    )
    rng.shuffle(faults)
    return faults


async def _inject(
    fault: str, server: ServerProcess, postgres: RestartablePostgres, proxy: Any, plan: FaultPlan
) -> float:
    started = time.monotonic()
    if fault == "kill":
        await server.akill()
        await server.arestart()
    elif fault == "postgres":
        await postgres.restart(plan.postgres_downtime)
    else:
        proxy.cut()
        await asyncio.sleep(plan.cut_downtime)
        proxy.restore()
    return time.monotonic() - started


async def _sender(
    index: int,
    client: ChatClient,
    peers: list[str],
    plan: FaultPlan,
    spread: float,
    accepted: dict[tuple[str, str], str],
    refused: Counter[str],
) -> None:
    rng = random.Random(plan.seed * 1000 + index)  # noqa: S311 - traffic, not secrets
    for number in range(plan.messages_per_client):
        peer = rng.choice(peers)
        text = f"reliability c{index} m{number} {rng.getrandbits(48):012x}"
        try:
            message = await client.send_message(peer, text)
        except Exception as exc:
            refused[type(exc).__name__] += 1
            continue
        assert message.client_message_id is not None
        accepted[(client.public_key, message.client_message_id)] = text
        # Spread the sends over the fault period, so faults hit traffic in flight.
        await asyncio.sleep(rng.uniform(0.5, 1.5) * spread)


async def _server_rows(dsn: str) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    connection = await asyncpg.connect(libpq_dsn(dsn))
    try:
        messages = await connection.fetch(
            "SELECT m.id::text AS id, m.conversation_id, m.server_seq, m.sender_key,"
            " m.client_message_id, c.user_low, c.user_high"
            " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        )
        conversations = await connection.fetch(
            "SELECT id, user_low, user_high, last_server_seq FROM conversations"
        )
    finally:
        await connection.close()
    return messages, conversations


def _cache_rows(path: Path) -> list[tuple[str, int | None, str | None, str, str, str]]:
    uri = f"file:{path}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=10) as connection:
        rows = connection.execute(
            "SELECT peer, server_seq, message_id, sender, text, state FROM messages"
        ).fetchall()
    connection.close()
    return [tuple(row) for row in rows]


@attrs.frozen
class _CacheCheck:
    missing: int
    extra: int
    wrong_text: int
    pending: int

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.wrong_text or self.pending)


def _check_caches(
    clients: list[ChatClient],
    messages: list[asyncpg.Record],
    accepted: dict[tuple[str, str], str],
) -> dict[str, _CacheCheck]:
    expected: dict[str, set[tuple[str, int, str, str]]] = defaultdict(set)
    text_of: dict[str, str] = {}
    for row in messages:
        for me, peer in ((row["user_low"], row["user_high"]), (row["user_high"], row["user_low"])):
            expected[me].add((peer, row["server_seq"], row["id"].lower(), row["sender_key"]))
        text = accepted.get((row["sender_key"], row["client_message_id"]))
        if text is not None:
            text_of[row["id"].lower()] = text

    result: dict[str, _CacheCheck] = {}
    for client in clients:
        rows = _cache_rows(client.cache_path)
        held = {
            (peer, seq, (message_id or "").lower(), sender)
            for peer, seq, message_id, sender, _text, _state in rows
            if seq is not None
        }
        wrong_text = sum(
            1
            for _peer, seq, message_id, _sender, text, _state in rows
            if seq is not None and text_of.get((message_id or "").lower(), text) != text
        )
        pending = sum(1 for row in rows if row[1] is None)
        mine = expected.get(client.public_key, set())
        result[client.public_key] = _CacheCheck(
            missing=len(mine - held), extra=len(held - mine), wrong_text=wrong_text, pending=pending
        )
    return result


async def _wait_drained(clients: list[ChatClient], limit: float) -> tuple[int, int]:
    """Wait until no outbox has queued or sending items; return (left, failed)."""
    deadline = time.monotonic() + limit
    while True:
        entries = [entry for client in clients for entry in client.outbox()]
        failed = sum(1 for entry in entries if entry.state is OutboxState.FAILED)
        left = len(entries) - failed
        if left == 0 or time.monotonic() > deadline:
            return left, failed
        await asyncio.sleep(0.5)


async def run_faults(postgres: RestartablePostgres, plan: FaultPlan) -> Report:
    """Run the fault scenario on a fresh database of `postgres` and return its report."""
    report = Report(f"faults ({plan.clients} clients x {plan.messages_per_client} messages)")
    started = time.monotonic()
    dsn = await postgres.create_database()
    rng = random.Random(plan.seed)  # noqa: S311 - fault order, not secrets
    accepted: dict[tuple[str, str], str] = {}
    refused: Counter[str] = Counter()
    config_overrides = {
        # Every client comes from 127.0.0.1; a real deployment gets one address per
        # user, so the per-address login limit is raised to what 20 users would get.
        "login_rate_per_minute": 30 * plan.clients,
        "shutdown_grace": "1s",
    }
    FaultProxy = load_fault_proxy()  # noqa: N806 - a class
    with tempfile.TemporaryDirectory(prefix="chatview-reliability-clients-") as folder:
        server = ServerProcess(dsn=dsn, config=config_overrides, startup_timeout=120)
        await server.astart()
        proxy = await FaultProxy.start(server.address)
        sampler = ResourceSampler(lambda: server.pid)
        sampler.start()
        clients: list[ChatClient] = []
        try:
            for index in range(plan.clients):
                config = ClientConfig(
                    data_dir=Path(folder) / f"client-{index}",
                    grpc_target=proxy.address,
                    grpc_tls=False,
                    grpc_timeout=10.0,
                    retry_initial_delay=0.2,
                    retry_max_delay=3.0,
                    reconnect_max_delay=3.0,
                    # A message may not be given up on while the server is merely down.
                    outbox_max_attempts=100_000,
                )
                client = ChatClient(config, KeyPair.generate(), client_id=f"device-{index}")
                await client.open()
                clients.append(client)
            await asyncio.gather(*(client.wait_online(timeout=120) for client in clients))
            keys = [client.public_key for client in clients]

            # 1. Traffic and faults at the same time.
            faults = _fault_order(plan, rng)
            fault_seconds = max(1.0, len(faults) * (plan.pause + 1.5))
            spread = fault_seconds / max(1, plan.messages_per_client)
            senders = [
                asyncio.create_task(
                    _sender(
                        index,
                        client,
                        [key for key in keys if key != client.public_key],
                        plan,
                        spread,
                        accepted,
                        refused,
                    )
                )
                for index, client in enumerate(clients)
            ]
            durations: dict[str, list[float]] = defaultdict(list)
            for fault in faults:
                await asyncio.sleep(plan.pause)
                durations[fault].append(await _inject(fault, server, postgres, proxy, plan))
            await asyncio.gather(*senders)
            send_finished = time.monotonic()

            # 2. Let every outbox drain and every cache catch up, on the clients' own.
            left, failed = await _wait_drained(clients, plan.settle_timeout)
            drained = time.monotonic()
            deadline = time.monotonic() + 60
            while True:
                messages, conversations = await _server_rows(dsn)
                checks = _check_caches(clients, messages, accepted)
                if all(check.clean for check in checks.values()) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(2)
            converged = time.monotonic()
        finally:
            for client in clients:
                await client.close()
            await proxy.close()
            await sampler.stop()
            server_log_tail = server.log_text()[-4000:]
            await asyncio.to_thread(server.close)

    # 3. The figures.
    by_key: Counter[tuple[str, str | None]] = Counter(
        (row["sender_key"], row["client_message_id"]) for row in messages
    )
    stored = sum(1 for key in accepted if by_key.get(key, 0) >= 1)
    duplicated = sum(count - 1 for key, count in by_key.items() if count > 1) + sum(
        count for key, count in by_key.items() if key not in accepted
    )
    unexpected = sum(count for key, count in by_key.items() if key not in accepted)
    lost = len(accepted) - stored
    gaps = 0
    seqs: dict[int, list[int]] = defaultdict(list)
    for row in messages:
        seqs[row["conversation_id"]].append(row["server_seq"])
    for conversation in conversations:
        got = sorted(seqs.get(conversation["id"], []))
        if got != list(range(1, len(got) + 1)) or conversation["last_server_seq"] != len(got):
            gaps += 1
            report.fail(
                f"conversation {conversation['id']}: server_seq not 1..n "
                f"(n={len(got)}, last_server_seq={conversation['last_server_seq']}, "
                f"first bad={next((s for i, s in enumerate(got, 1) if s != i), None)})"
            )
    unclean = {key: check for key, check in checks.items() if not check.clean}

    report.figures.update(
        {
            "sent (accepted by clients)": len(accepted),
            "stored": stored,
            "duplicated": duplicated,
            "lost": lost,
            "stored rows no client accepted (counted as duplicated)": unexpected,
            "refused by send_message": dict(refused) or 0,
            "outbox left / failed": f"{left} / {failed}",
            "conversations (gapless)": f"{len(conversations)} ({len(conversations) - gaps})",
            "caches equal to server": f"{len(checks) - len(unclean)} of {len(checks)}",
            "faults": ", ".join(
                f"{name} x{len(times)} (avg {sum(times) / len(times):.1f} s)"
                for name, times in sorted(durations.items())
            ),
            "postgres restarts done": postgres.restarts,
            "drain after last send": f"{drained - send_finished:.1f} s",
            "caches converged after drain": f"{converged - drained:.1f} s",
            "server peak rss": f"{sampler.peak_rss / 2**20:.1f} MiB",
        }
    )
    if duplicated:
        report.fail(f"{duplicated} duplicated messages on the server")
    if lost:
        report.fail(f"{lost} accepted messages are not stored")
    if left or failed:
        report.fail(f"outboxes still hold {left} unsent and {failed} failed messages")
    for key, check in unclean.items():
        report.fail(f"cache of {key[:12]} differs from the server: {attrs.asdict(check)}")
    if report.failures:
        report.notes.append("server log tail: " + server_log_tail.replace("\n", " | ")[-1500:])
    report.seconds = time.monotonic() - started
    return report
