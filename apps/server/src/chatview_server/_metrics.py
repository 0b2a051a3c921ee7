"""Prometheus metrics: per-method RPC figures, hub and store statistics, pool use.

The endpoint is off unless ``metrics_addr`` is set; it then serves ``/metrics`` over
plain HTTP on a port of its own, from a thread, so a busy event loop still answers a
scrape. Every figure is of this process; a dashboard sums over the processes.

Two sources feed it:

- `MetricsInterceptor`, outermost on the gRPC server, counts every ChatView call by
  method and final status code, times it, and counts SendMessage replies marked
  ``deduplicated`` (a client's outbox sending a message again after a lost reply).
- `RuntimeCollector` reads the hub's and the store's statistics at scrape time, so
  open streams, online users, fan-out, slow-consumer closes, write retries and pool
  use cost nothing between scrapes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final, cast, final
from wsgiref.simple_server import WSGIServer

import grpc
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chatview_hub import HubStatistics
from chatview_store_pg import StoreStatistics

from ._config import parse_listen_addr
from ._errors import StartupError
from ._interceptors import MethodInterceptor, StreamBehavior, UnaryBehavior

__all__ = ["MetricsInterceptor", "MetricsServer", "RuntimeCollector", "ServerMetrics"]

_SEND_METHOD: Final = "/chatview.chat.ChatService/SendMessage"
# Unary calls take milliseconds. Event streams last minutes to hours, so the top
# buckets tell a stream dropped early from a long-lived one.
_DURATION_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    60.0,
    600.0,
    3600.0,
)

_log = structlog.get_logger("chatview_server.metrics")


@final
class ServerMetrics:
    """The metrics of one server process, in a registry of their own.

    A registry per object (not the library's global one) lets several servers run
    in one test process without clashing names.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpc_requests = Counter(
            "chatview_rpc_requests",
            "ChatView calls finished, by method and gRPC status code",
            ("method", "code"),
            registry=self.registry,
        )
        self.rpc_duration = Histogram(
            "chatview_rpc_duration_seconds",
            "Time from the start of a ChatView call to its end, by method",
            ("method",),
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.sends_deduplicated = Counter(
            "chatview_send_deduplicated",
            "SendMessage calls answered with an already stored message (client retries)",
            registry=self.registry,
        )

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        """Record one finished call."""
        self.rpc_requests.labels(method=method, code=code.name).inc()
        self.rpc_duration.labels(method=method).observe(seconds)


@final
class RuntimeCollector(Collector):
    """Reads hub and store statistics when Prometheus scrapes.

    Args:
        hub_statistics: returns the hub's snapshot (``Hub.statistics``).
        store_statistics: returns the store's snapshot (``Store.statistics``).
    """

    def __init__(
        self,
        hub_statistics: Callable[[], HubStatistics],
        store_statistics: Callable[[], StoreStatistics],
    ) -> None:
        self._hub_statistics = hub_statistics
        self._store_statistics = store_statistics

    def collect(self) -> Iterator[Metric]:
        """Yield one sample per figure, read now."""
        # The scrape runs in the HTTP thread while the event loop updates the
        # counters. Each read is of a plain int, so a figure is at worst one event old.
        hub = self._hub_statistics()
        store = self._store_statistics()
        yield GaugeMetricFamily(
            "chatview_event_streams_open", "Event streams open now", value=hub.connections
        )
        yield GaugeMetricFamily(
            "chatview_users_online", "Users with at least one open event stream", value=hub.users
        )
        yield CounterMetricFamily(
            "chatview_event_streams_opened", "Event streams opened", value=hub.connections_opened
        )
        yield CounterMetricFamily(
            "chatview_event_streams_overflowed",
            "Event streams closed because the client fell behind (queue full)",
            value=hub.connections_overflowed,
        )
        yield CounterMetricFamily(
            "chatview_event_streams_replaced",
            "Event streams closed because the same device opened a new one",
            value=hub.connections_replaced,
        )
        yield CounterMetricFamily(
            "chatview_events_published", "Events published to the hub", value=hub.events_published
        )
        yield CounterMetricFamily(
            "chatview_events_fanned_out",
            "Events put into an event stream's queue, one per stream",
            value=hub.events_delivered,
        )
        yield CounterMetricFamily(
            "chatview_store_write_retries",
            "Write transactions (sends, read marks) attempted again after a conflict",
            value=store.write_retries,
        )
        yield CounterMetricFamily(
            "chatview_store_writes_exhausted",
            "Writes that failed because every attempt conflicted",
            value=store.writes_exhausted,
        )
        yield GaugeMetricFamily(
            "chatview_db_pool_size", "Connections the pool keeps open", value=store.pool_size
        )
        yield GaugeMetricFamily(
            "chatview_db_pool_checked_out",
            "Database connections in use by a transaction now",
            value=store.pool_checked_out,
        )
        yield GaugeMetricFamily(
            "chatview_db_pool_overflow",
            "Database connections open above the pool size (negative: pool not yet full)",
            value=store.pool_overflow,
        )


@final
class MetricsInterceptor(MethodInterceptor):
    """Count and time every ChatView call; put it outermost to see the final status."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def _wrap_unary(self, method: str, behavior: UnaryBehavior) -> UnaryBehavior:
        metrics = self._metrics

        async def measured(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            try:
                response = await behavior(request, context)
            except BaseException as exc:
                metrics.observe(method, _code_of(exc, context), time.perf_counter() - started)
                raise
            metrics.observe(method, grpc.StatusCode.OK, time.perf_counter() - started)
            if method == _SEND_METHOD and getattr(response, "deduplicated", False):
                metrics.sends_deduplicated.inc()
            return response

        return measured

    def _wrap_stream(self, method: str, behavior: StreamBehavior) -> StreamBehavior:
        metrics = self._metrics

        async def measured(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            started = time.perf_counter()
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                metrics.observe(method, _code_of(exc, context), time.perf_counter() - started)
                raise
            metrics.observe(method, grpc.StatusCode.OK, time.perf_counter() - started)

        return measured


def _code_of(exc: BaseException, context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    if isinstance(exc, grpc.aio.AbortError):
        # The request-log interceptor inside maps every failure with context.abort().
        code = cast("grpc.StatusCode | None", context.code())
        return code if code is not None else grpc.StatusCode.UNKNOWN
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


@final
class MetricsServer:
    """The HTTP endpoint serving ``/metrics`` from a daemon thread."""

    def __init__(self, http_server: WSGIServer, address: str) -> None:
        self._http_server = http_server
        self.address = address
        """``host:port`` it listens on (the bound port when 0 was asked for)."""

    @classmethod
    def start(cls, metrics_addr: str, registry: CollectorRegistry) -> MetricsServer:
        """Listen on `metrics_addr` (``host:port``; an empty host means every interface).

        Raises:
            StartupError: the address cannot be bound.
        """
        host, port = parse_listen_addr(metrics_addr)
        bind_host = host or "0.0.0.0"  # noqa: S104 - an empty host asks for every interface
        try:
            http_server, _thread = start_http_server(port, addr=bind_host, registry=registry)
        except OSError as exc:
            msg = f"cannot listen for metrics on {metrics_addr!r}: {exc.strerror or exc}"
            raise StartupError(msg) from exc
        shown_host = f"[{bind_host}]" if ":" in bind_host else bind_host
        server = cls(http_server, f"{shown_host}:{http_server.server_port}")
        _log.info("metrics.listening", address=server.address, path="/metrics")
        return server

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._http_server.shutdown()
        self._http_server.server_close()
