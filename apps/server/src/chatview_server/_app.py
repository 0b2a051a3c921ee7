"""Running the server: database, migrations, gRPC server, signals and shutdown.

Start-up, in order: the embedded PostgreSQL (when ``db_dsn`` is empty), migrations
(unless ``skip_migrations``), the store, the admin key, the gRPC server with health
checking and reflection, and the port file.

Shutdown on SIGTERM or SIGINT, in order:

1. health checks report NOT_SERVING;
2. the hub ends every event stream, so clients get UNAVAILABLE and reconnect;
3. unary calls get ``shutdown_grace`` to finish;
4. background tasks are cancelled, the store is closed, and the embedded PostgreSQL
   is stopped.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, Final

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chatview_hub import (
    BackendUnavailableError,
    EventCodec,
    MissingDependencyError,
    NatsBackend,
    PostgresBackend,
)
from chatview_proto import (
    admin_pb2,
    admin_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    chat_pb2,
    chat_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
)
from chatview_store_pg import Role, Store, StoreError, open_store

from . import migrations
from ._admin_service import AdminService
from ._auth_service import AuthService
from ._chat_service import ChatService
from ._config import ServerConfig, hide_dsn_password, parse_listen_addr
from ._embedded import EmbeddedPostgres
from ._errors import StartupError
from ._event_service import EventService
from ._interceptors import AuthInterceptor, RequestLogInterceptor
from ._metrics import MetricsInterceptor, MetricsServer, RuntimeCollector, ServerMetrics
from ._runtime import Runtime

__all__ = ["SERVICE_NAMES", "serve"]

SERVICE_NAMES: Final = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
    chat_pb2.DESCRIPTOR.services_by_name["ChatService"].full_name,
    events_pb2.DESCRIPTOR.services_by_name["EventService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)

_log = structlog.get_logger("chatview_server")


async def serve(config: ServerConfig, *, port_file: Path | None = None) -> None:
    """Run the server until SIGTERM or SIGINT, then stop it gracefully.

    Raises:
        StartupError: the database, the migrations or the port failed.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _request_stop, stop, signum)

    embedded: EmbeddedPostgres | None = None
    dsn = config.db_dsn
    try:
        if not dsn:
            embedded = EmbeddedPostgres(config.data_dir)
            dsn = await embedded.start()
        if not config.skip_migrations:
            await _migrate(dsn)
        store = await _open_store(dsn, config)
        try:
            await _serve_with_store(config, store, stop, dsn=dsn, port_file=port_file)
        finally:
            await store.close()
    finally:
        if embedded is not None:
            await embedded.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    _log.info("server.stopped")


def _request_stop(stop: asyncio.Event, signum: int) -> None:
    if not stop.is_set():
        _log.info("server.stopping", signal=signal.Signals(signum).name)
    stop.set()


async def _migrate(dsn: str) -> None:
    try:
        before = await asyncio.to_thread(migrations.current, dsn)
        await asyncio.to_thread(migrations.upgrade, dsn, "head")
        after = await asyncio.to_thread(migrations.current, dsn)
    except Exception as exc:
        msg = f"database migration failed ({type(exc).__name__}: {_first_line(exc)})"
        raise StartupError(msg) from exc
    _log.info("db.migrated", revision_before=before, revision=after)


async def _open_store(dsn: str, config: ServerConfig) -> Store:
    try:
        return await open_store(dsn, pool_size=config.db_pool_size)
    except StoreError as exc:
        msg = f"cannot open the database {hide_dsn_password(dsn)!r}: {_first_line(exc)}"
        raise StartupError(msg) from exc


async def _serve_with_store(
    config: ServerConfig,
    store: Store,
    stop: asyncio.Event,
    *,
    dsn: str,
    port_file: Path | None,
) -> None:
    if config.admin_pub_key:
        await store.ensure_user(config.admin_pub_key)
        await store.set_role(config.admin_pub_key, Role.ADMIN)
        _log.info("admin.configured", admin=config.admin_pub_key[:8])

    try:
        backend = _event_backend(config, dsn)
    except MissingDependencyError as exc:
        msg = f"cannot use event_backend {config.event_backend}: {exc}"
        raise StartupError(msg) from exc
    runtime = Runtime(config, store, backend=backend)
    metrics = ServerMetrics()
    metrics.registry.register(RuntimeCollector(runtime.hub.statistics, store.statistics))
    server = grpc.aio.server(
        interceptors=[
            MetricsInterceptor(metrics),
            RequestLogInterceptor(),
            AuthInterceptor(store, clock=runtime.clock),
        ],
        options=grpc_options(config),
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthService(runtime), server)
    chat_pb2_grpc.add_ChatServiceServicer_to_server(ChatService(runtime), server)
    events_pb2_grpc.add_EventServiceServicer_to_server(EventService(runtime), server)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminService(runtime), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )

    address, every_interface = _bind(server, config)
    if backend is not None:
        try:
            await backend.start()
        except BackendUnavailableError as exc:
            msg = f"cannot start the {config.event_backend} event backend: {_first_line(exc)}"
            raise StartupError(msg) from exc
    metrics_server: MetricsServer | None = None
    await server.start()
    try:
        if config.metrics_addr:
            metrics_server = MetricsServer.start(config.metrics_addr, metrics.registry)
        for name in ("", *SERVICE_NAMES):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        runtime.start_background_tasks()
        if port_file is not None:
            _write_port_file(port_file, address)
        _log.info(
            "server.listening",
            address=address,
            interfaces="all" if every_interface else "one",
            listen_addr=config.listen_addr,
            tls=config.tls_enabled,
            database="embedded" if not config.db_dsn else hide_dsn_password(dsn),
            data_dir=str(config.data_dir) if not config.db_dsn else None,
            pid=os.getpid(),
        )

        await stop.wait()
    finally:
        # Streams first: they would otherwise hold the grace period to its end.
        await health_servicer.enter_graceful_shutdown()
        runtime.hub.close()
        await server.stop(config.shutdown_grace.total_seconds())
        if backend is not None:
            # Presence of this process reaches the ledger (and so the feed) first.
            await _bounded(backend.flush(), config.shutdown_grace.total_seconds())
        await runtime.close()
        if backend is not None:
            await backend.stop(grace=config.shutdown_grace.total_seconds())
        if port_file is not None:
            _remove_port_file(port_file)
        if metrics_server is not None:
            metrics_server.stop()


_ClusterBackend = PostgresBackend[events_pb2.ServerEvent] | NatsBackend[events_pb2.ServerEvent]


def _event_backend(config: ServerConfig, dsn: str) -> _ClusterBackend | None:
    if config.event_backend == "local":
        return None
    codec = EventCodec(
        encode=events_pb2.ServerEvent.SerializeToString,
        decode=events_pb2.ServerEvent.FromString,
    )
    heal_interval = config.presence_heal_interval.total_seconds()
    if config.event_backend == "nats":
        # Presence needs an atomic count that core NATS lacks, so it stays in PostgreSQL.
        return NatsBackend(
            config.nats_url.split(","),
            codec,
            presence_dsn=dsn,
            subject=config.nats_subject,
            heal_interval=heal_interval,
        )
    return PostgresBackend(dsn, codec, heal_interval=heal_interval)


async def _bounded(work: Awaitable[None], seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await work
    except TimeoutError:
        _log.warning("server.shutdown_step_timed_out", seconds=seconds)


def grpc_options(config: ServerConfig) -> Sequence[tuple[str, Any]]:
    """Return the channel arguments of the server: message sizes and keepalive.

    The server pings an idle client every ``keepalive_time`` and drops it when no
    reply comes within ``keepalive_timeout``. It accepts client pings as often as
    every ``keepalive_min_ping_interval``, also on a connection with no call, so a
    client may ping that often without being sent GOAWAY ``too_many_pings``.
    """

    def ms(value: Any) -> int:
        return int(value.total_seconds() * 1000)

    return (
        ("grpc.max_receive_message_length", config.max_grpc_message_bytes),
        ("grpc.max_send_message_length", config.max_grpc_message_bytes),
        ("grpc.keepalive_time_ms", ms(config.keepalive_time)),
        ("grpc.keepalive_timeout_ms", ms(config.keepalive_timeout)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", ms(config.keepalive_min_ping_interval)),
        ("grpc.http2.max_pings_without_data", 0),
        # A client pinging more often than the minimum interval is sent GOAWAY
        # "too_many_pings" after this many such pings.
        ("grpc.http2.max_ping_strikes", 2),
        # Without this a second server could bind the same port and take half of the
        # new connections.
        ("grpc.so_reuseport", 0),
    )


def _bind(server: grpc.aio.Server, config: ServerConfig) -> tuple[str, bool]:
    """Add the listening port; return the address a local client dials and whether
    the server listens on every interface."""
    host, port = parse_listen_addr(config.listen_addr)
    bind_host = host if host else "[::]"
    if ":" in bind_host and not bind_host.startswith("["):
        bind_host = f"[{bind_host}]"
    target = f"{bind_host}:{port}"

    try:
        if config.tls_enabled:
            credentials = grpc.ssl_server_credentials(
                [(Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())]
            )
            bound = server.add_secure_port(target, credentials)
        else:
            bound = server.add_insecure_port(target)
    except (RuntimeError, OSError) as exc:
        msg = f"cannot listen on {config.listen_addr!r}: {_first_line(exc)}"
        raise StartupError(msg) from exc
    if bound == 0:
        msg = f"cannot listen on {config.listen_addr!r}: the address is in use or not local"
        raise StartupError(msg)

    every_interface = host in ("", "0.0.0.0", "::")  # noqa: S104
    if every_interface and not config.tls_enabled:
        # The contract's default ":50051" listens on every interface, as the original
        # server did; plaintext beyond loopback exposes tokens, so say it loudly.
        _log.warning(
            "server.plaintext_on_all_interfaces",
            listen_addr=config.listen_addr,
            hint="set tls_cert and tls_key, or listen_addr 127.0.0.1:PORT",
        )

    # The address a local client dials: loopback when listening on every interface.
    dial_host = "127.0.0.1" if every_interface else bind_host
    return f"{dial_host}:{bound}", every_interface


def _write_port_file(path: Path, address: str) -> None:
    # Write then rename, so a reader never sees a half-written address.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(address + "\n", encoding="utf-8")
    temporary.replace(path)


def _remove_port_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
