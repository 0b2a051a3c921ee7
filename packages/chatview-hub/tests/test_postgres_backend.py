"""PostgresBackend: dead processes, lost links, large payloads, lifecycle and limits."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from chatview_hub import (
    BackendBindingError,
    BackendStateError,
    BackendUnavailableError,
    CloseReason,
    Connection,
    ConnectionClosedError,
    EventCodec,
    Hub,
    MissingDependencyError,
    PostgresBackend,
    PresenceChange,
)
from chatview_hub._wire import Kind, Message

from .cluster import STRING_CODEC, BackendKind, Cluster, eventually

ALICE = "a" * 64
BOB = "b" * 64
CAROL = "c" * 64

MakeCluster = Callable[[BackendKind], Cluster]

RUN_NODE = Path(__file__).with_name("run_node.py")


async def received(connection: Connection[str], count: int) -> list[str]:
    events: list[str] = []
    async with asyncio.timeout(10):
        while len(events) < count:
            events.append(await connection.receive())
    return events


async def close_reason(connection: Connection[str]) -> str:
    """Wait until ``connection`` ends, reading what is queued, and return the reason."""
    async with asyncio.timeout(10):
        while True:
            try:
                await connection.receive()
            except ConnectionClosedError as exc:
                return exc.reason


@pytest.fixture(name="database")
async def fixture_database(postgres_dsn: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    """A plain connection to the test database, for looking at and breaking things."""
    connection = await asyncpg.connect(postgres_dsn)
    yield connection
    await connection.close()


class TestDeadProcess:
    async def test_killed_process_loses_presence(
        self, make_cluster: MakeCluster, postgres_dsn: str
    ) -> None:
        """A killed process's users go offline within the heal interval, unless online elsewhere."""
        cluster = make_cluster("postgres")
        survivor = await cluster.start(heal_interval=1.5)
        survivor.hub.connect(BOB, "phone")
        await cluster.flush()
        node = await asyncio.create_subprocess_exec(
            sys.executable,
            str(RUN_NODE),
            postgres_dsn,
            cluster.subject,
            ALICE,
            BOB,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert node.stdout is not None
            ready = await asyncio.wait_for(node.stdout.readline(), 30)
            assert ready.startswith(b"ready")
            await eventually(lambda: survivor.hub.is_online(ALICE))

            node.kill()
            await node.wait()

            await eventually(lambda: not survivor.hub.is_online(ALICE), within=8)
        finally:
            if node.returncode is None:
                node.kill()
                await node.wait()
        assert survivor.hub.is_online(BOB)
        assert [PresenceChange(BOB, True), PresenceChange(ALICE, False)] == survivor.reported

    async def test_process_declared_dead_registers_again(
        self,
        make_cluster: MakeCluster,
        database: asyncpg.Connection[asyncpg.Record],
    ) -> None:
        """A live process whose rows were removed adds its users back at its next heartbeat."""
        cluster = make_cluster("postgres")
        node = await cluster.start(heal_interval=1.5)
        node.hub.connect(ALICE, "phone")
        await cluster.flush()

        # What a survivor does to a process silent for too long.
        await database.execute("DELETE FROM hub_presence")
        await database.execute("UPDATE hub_users SET processes = 0")
        await database.execute("DELETE FROM hub_processes")

        async def alice_rows() -> int | None:
            count: int | None = await database.fetchval(
                "SELECT processes FROM hub_users WHERE user_key = $1", ALICE
            )
            return count

        async with asyncio.timeout(8):
            while await alice_rows() != 1:  # noqa: ASYNC110 - a table has no event to wait on
                await asyncio.sleep(0.05)
        assert 1 == await database.fetchval("SELECT count(*) FROM hub_processes")


class TestReconnect:
    async def test_listen_killed_closes_for_catch_up(
        self, make_cluster: MakeCluster, database: asyncpg.Connection[asyncpg.Record]
    ) -> None:
        """After its LISTEN connection is killed, a process reconnects and ends its streams."""
        cluster = make_cluster("postgres")
        a, b = await cluster.start(), await cluster.start()
        phone = b.hub.connect(ALICE, "phone")
        listen_pid = b.backend.listen_connection_pid()  # type: ignore[union-attr]

        with capture_logs() as logs:
            await database.execute("SELECT pg_terminate_backend($1)", listen_pid)
            reason = await close_reason(phone)

        assert CloseReason.BACKEND_RECONNECTED == reason
        assert 1 == b.backend.statistics().reconnects
        assert {"hub.backend.listen_lost", "hub.backend.reconnected", "hub.backend.catch_up"} <= {
            entry["event"] for entry in logs
        }
        again = b.hub.connect(ALICE, "phone")
        a.hub.publish(ALICE, "after")
        assert ["after"] == await received(again, 1)

    async def test_all_connections_killed(
        self, make_cluster: MakeCluster, database: asyncpg.Connection[asyncpg.Record]
    ) -> None:
        """With every connection of both processes killed, as in a restart, events flow again."""
        cluster = make_cluster("postgres")
        a, b = await cluster.start(), await cluster.start()
        phone = b.hub.connect(ALICE, "phone")

        await database.execute(
            """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
            """
        )
        await close_reason(phone)
        await eventually(lambda: a.backend.statistics().reconnects == 1)
        again = b.hub.connect(ALICE, "phone")
        a.hub.publish(ALICE, "after restart")

        assert ["after restart"] == await received(again, 1)


class TestLargePayload:
    async def test_large_event_by_reference(self, make_cluster: MakeCluster) -> None:
        """An event above NOTIFY's limit is stored, referenced, and arrives intact."""
        cluster = make_cluster("postgres")
        a, b = await cluster.start(), await cluster.start()
        phone = b.hub.connect(ALICE, "phone")
        large = "x" * 20_000

        a.hub.publish(ALICE, "small")
        a.hub.publish(ALICE, large)
        a.hub.publish(ALICE, "small again")

        assert ["small", large, "small again"] == await received(phone, 3)
        assert 1 == a.backend.statistics().payloads_stored

    async def test_long_user_list_by_reference(self, make_cluster: MakeCluster) -> None:
        """``publish_many`` to hundreds of followers exceeds the limit and still arrives."""
        cluster = make_cluster("postgres")
        a, b = await cluster.start(), await cluster.start()
        followers = [f"{number:064x}" for number in range(300)]
        phone = b.hub.connect(followers[-1], "phone")

        a.hub.publish_many(followers, "status")

        assert ["status"] == await received(phone, 1)
        assert 1 == a.backend.statistics().payloads_stored

    async def test_limit_boundary(self, make_cluster: MakeCluster) -> None:
        """A message of 7999 bytes goes inline, one of 8000 bytes by reference."""
        cluster = make_cluster("postgres")
        a, b = await cluster.start(), await cluster.start()
        phone = b.hub.connect(ALICE, "phone", session_id="receiver")
        event = "y" * 5000
        # The first two messages of a process are numbered 1 and 2, one digit each;
        # the excluded session's length pads the message to the size wanted.
        bare = Message(Kind.PUBLISH, a.backend.process_id, 1, users=(ALICE,), event=event.encode())
        padding = 7999 - len(bare.to_bytes()) - len(',"xs":""')

        a.hub.publish(ALICE, event, exclude_session="s" * padding)
        await a.backend.flush()
        inline_stored = a.backend.statistics().payloads_stored
        a.hub.publish(ALICE, event, exclude_session="s" * (padding + 1))

        assert [event, event] == await received(phone, 2)
        assert 0 == inline_stored
        assert 1 == a.backend.statistics().payloads_stored

    async def test_missing_payload_forces_catch_up(self, make_cluster: MakeCluster) -> None:
        """A reference whose payload is gone ends the local connections for a catch-up."""
        cluster = make_cluster("postgres")
        (b,) = [await cluster.start()]
        phone = b.hub.connect(ALICE, "phone")
        backend = b.backend
        reference = b'{"v":1,"k":"ref","o":"elsewhere","n":1,"p":999999}'

        with capture_logs() as logs:
            await backend._handle(reference)

        assert CloseReason.EVENTS_MISSED == await close_reason(phone)
        assert "hub.backend.payload_missing" in [entry["event"] for entry in logs]


class TestBadMessages:
    async def test_foreign_notification_ignored(
        self, make_cluster: MakeCluster, database: asyncpg.Connection[asyncpg.Record]
    ) -> None:
        """Text that is not a hub message is logged and skipped; later events still arrive."""
        cluster = make_cluster("postgres")
        a, b = await cluster.start(), await cluster.start()
        phone = b.hub.connect(ALICE, "phone")

        with capture_logs() as logs:
            await database.execute("SELECT pg_notify($1, 'not json')", cluster.subject)
            a.hub.publish(ALICE, "fine")
            events = await received(phone, 1)

        assert ["fine"] == events
        assert "hub.backend.message_invalid" in [entry["event"] for entry in logs]

    async def test_undecodable_event_closes_receivers(self, make_cluster: MakeCluster) -> None:
        """An event the codec cannot decode ends its receivers' streams for a catch-up."""
        cluster = make_cluster("postgres")
        a = await cluster.start()

        def refuse(data: bytes) -> str:
            msg = "bad event"
            raise ValueError(msg)

        picky: PostgresBackend[str] = PostgresBackend(
            cluster.dsn, EventCodec(encode=str.encode, decode=refuse), channel=cluster.subject
        )
        hub: Hub[str] = Hub(backend=picky)
        async with picky:
            phone = hub.connect(ALICE, "phone")
            bystander = hub.connect(BOB, "phone")
            a.hub.publish(ALICE, "x")

            assert CloseReason.EVENTS_MISSED == await close_reason(phone)
            assert not bystander.closed
            hub.close()


class TestOverflow:
    async def test_send_overflow_makes_others_catch_up(self, make_cluster: MakeCluster) -> None:
        """Messages dropped from a full send queue make the other processes end their streams."""
        cluster = make_cluster("postgres")
        b = await cluster.start()
        phone = b.hub.connect(ALICE, "phone")
        sender: PostgresBackend[str] = PostgresBackend(
            cluster.dsn, STRING_CODEC, channel=cluster.subject, max_pending=2
        )
        hub: Hub[str] = Hub(backend=sender)
        for number in range(5):
            hub.publish(ALICE, f"event-{number}")

        async with sender:
            reason = await close_reason(phone)

        assert CloseReason.EVENTS_MISSED == reason
        # The queue of two overflowed twice: at the third and at the fifth event.
        assert 4 == sender.statistics().messages_dropped


class TestLifecycle:
    async def test_unreachable_database(self) -> None:
        """``start`` against a closed port raises ``BackendUnavailableError``, leaving nothing."""
        backend: PostgresBackend[str] = PostgresBackend(
            "postgresql://postgres@127.0.0.1:1/none", STRING_CODEC
        )
        before = asyncio.all_tasks()

        with pytest.raises(BackendUnavailableError, match=r"^PostgresBackend could not start: "):
            await backend.start()

        assert before == asyncio.all_tasks()
        assert isinstance(BackendUnavailableError("x"), ConnectionError)

    async def test_no_task_left_after_stop(self, postgres_dsn: str) -> None:
        """After ``stop`` no task of the backend runs."""
        before = asyncio.all_tasks()
        backend: PostgresBackend[str] = PostgresBackend(postgres_dsn, STRING_CODEC)
        hub: Hub[str] = Hub(backend=backend)
        await backend.start()
        hub.connect(ALICE, "phone")
        hub.publish(ALICE, "x")

        hub.close()
        await backend.stop()

        assert before == asyncio.all_tasks()

    async def test_stop_is_idempotent(self, postgres_dsn: str) -> None:
        """A second ``stop`` does nothing, and so does one before ``start``."""
        never_started: PostgresBackend[str] = PostgresBackend(postgres_dsn, STRING_CODEC)
        backend: PostgresBackend[str] = PostgresBackend(postgres_dsn, STRING_CODEC)
        await backend.start()

        await never_started.stop()
        await backend.stop()
        await backend.stop()

        assert "stopped" in repr(backend)

    async def test_start_twice_rejected(self, postgres_dsn: str) -> None:
        """A backend starts once."""
        async with PostgresBackend(postgres_dsn, STRING_CODEC) as backend:
            with pytest.raises(BackendStateError, match=r"^this PostgresBackend was started"):
                await backend.start()

    async def test_flush_before_start_rejected(self, postgres_dsn: str) -> None:
        """``flush`` needs a running backend."""
        backend: PostgresBackend[str] = PostgresBackend(postgres_dsn, STRING_CODEC)

        with pytest.raises(BackendStateError, match=r"^cannot flush: this PostgresBackend is new"):
            await backend.flush()

    async def test_published_before_start_is_sent(self, make_cluster: MakeCluster) -> None:
        """What a hub publishes before its backend starts goes out once it has."""
        cluster = make_cluster("postgres")
        b = await cluster.start()
        phone = b.hub.connect(ALICE, "phone")
        early: PostgresBackend[str] = PostgresBackend(
            cluster.dsn, STRING_CODEC, channel=cluster.subject
        )
        hub: Hub[str] = Hub(backend=early)
        hub.publish(ALICE, "early")

        async with early:
            assert ["early"] == await received(phone, 1)

    async def test_published_after_stop_is_logged(self, postgres_dsn: str) -> None:
        """Publishing through a stopped backend reaches local connections and logs the rest."""
        backend: PostgresBackend[str] = PostgresBackend(postgres_dsn, STRING_CODEC)
        hub: Hub[str] = Hub(backend=backend)
        await backend.start()
        await backend.stop()
        phone = hub.connect(ALICE, "phone")

        with capture_logs() as logs:
            reached = hub.publish(ALICE, "late")

        assert 1 == reached
        assert ["late"] == [phone.receive_nowait()]
        assert "hub.backend.message_unsent" in [entry["event"] for entry in logs]

    async def test_tables_created_once(
        self, postgres_dsn: str, database: asyncpg.Connection[asyncpg.Record]
    ) -> None:
        """Processes starting together create the tables without tripping on each other."""
        backends = [PostgresBackend(postgres_dsn, STRING_CODEC) for _ in range(3)]

        await asyncio.gather(*(backend.start() for backend in backends))
        for backend in backends:
            await backend.stop()

        tables = await database.fetch(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'hub_%' ORDER BY 1"
        )
        assert ["hub_payloads", "hub_presence", "hub_processes", "hub_users"] == [
            row["tablename"] for row in tables
        ]


class TestConstruction:
    def test_bind_twice_rejected(self) -> None:
        """One backend serves one hub."""
        backend: PostgresBackend[str] = PostgresBackend("postgresql:///x", STRING_CODEC)
        Hub(backend=backend)

        with pytest.raises(BackendBindingError, match=r"^this PostgresBackend is already bound"):
            Hub(backend=backend)

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            ({"heal_interval": 0}, r"^invalid heal_interval 0: expected a positive"),
            (
                {"heal_interval": 3, "heartbeat_interval": 3},
                r"^invalid heartbeat_interval 3: expected more than 0 and less than",
            ),
            ({"max_pending": 0}, r"^invalid max_pending 0: expected at least 1$"),
            ({"channel": "c" * 64}, r"^invalid channel 'c{64}': expected 1 to 63 bytes"),
        ],
    )
    def test_bad_settings_rejected(self, options: dict[str, object], match: str) -> None:
        """Out-of-range settings are refused with the bad value."""
        with pytest.raises(ValueError, match=match):
            PostgresBackend("postgresql:///x", STRING_CODEC, **options)  # type: ignore[arg-type]

    def test_missing_asyncpg(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without asyncpg the backend says which extra to install."""
        monkeypatch.setitem(sys.modules, "asyncpg", None)

        with pytest.raises(MissingDependencyError, match=r"install chatview-hub\[postgres\]$"):
            PostgresBackend("postgresql:///x", STRING_CODEC)

    def test_default_heartbeat_is_a_third(self) -> None:
        """By default a process beats three times per heal interval."""
        backend: PostgresBackend[str] = PostgresBackend(
            "postgresql:///x", STRING_CODEC, heal_interval=9
        )

        assert 3 == backend._heartbeat_interval

    def test_driver_suffix_dropped(self) -> None:
        """A SQLAlchemy URL with ``+asyncpg`` is accepted as the plain URL."""
        backend: PostgresBackend[str] = PostgresBackend("postgresql+asyncpg://u@h/db", STRING_CODEC)

        assert "postgresql://u@h/db" == backend._dsn
