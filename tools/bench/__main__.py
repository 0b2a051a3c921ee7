"""Run ChatView's performance benchmark and print its table: ``python -m tools.bench``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence

import attrs
import structlog
from bench_cluster import BENCH_DSN_VARIABLE, SERVER_CONFIG

from chatview_server.testing import ServerProcess
from chatview_store_pg.testing import TEST_DSN_VARIABLE, TemporaryPostgres

from ._baseline import BaselineProcess
from ._chat import (
    MessageSizes,
    measure_echo,
    measure_login,
    measure_outbox,
    measure_reads,
    measure_relay,
    measure_send,
)
from ._loadgen import Latency
from ._streams import measure_streams, raise_open_files_limit

MEASURES = ("send", "login", "streams", "growth", "client")
MIB = 1024 * 1024
# The stream count the target is set for. A smaller --streams run is marked as scaled down.
TARGET_STREAMS = 10_000


@attrs.frozen
class Row:
    """One line of the table; `passed` None means the figure is for information."""

    measure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    passed: bool | None = None


def _verdict(passed: bool | None) -> str:
    if passed is None:
        return ""
    return "PASS" if passed else "MISS"


def _ms(latency: Latency) -> str:
    return f"{latency.p50:.1f} / {latency.p99:.1f} ms"


def _progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def _send_and_login(
    postgres: TemporaryPostgres, arguments: argparse.Namespace, sizes: MessageSizes
) -> list[Row]:
    rows: list[Row] = []
    timing = {"duration": arguments.duration, "warm_up": arguments.warm_up}
    with BaselineProcess(reply_bytes=sizes.reply, event_bytes=sizes.event) as baseline:
        _progress("baseline: bare echo")
        echo = await measure_echo(baseline.address, sizes, in_flight=arguments.in_flight, **timing)
        dsn = postgres.create_database()
        try:
            async with ServerProcess(dsn=dsn, config=SERVER_CONFIG) as server:
                if "send" in arguments.only:
                    _progress("send: closed loop, then paced at half rate")
                    send = await measure_send(
                        server.address,
                        pairs=arguments.pairs,
                        in_flight=arguments.in_flight,
                        **timing,
                    )
                    _progress("baseline: bare relay at the same rate")
                    relay = await measure_relay(
                        baseline.address,
                        sizes,
                        receivers=arguments.pairs,
                        rate=send.paced_rate,
                        duration=arguments.duration,
                    )
                    ratio = send.per_second / echo
                    rows += [
                        Row(
                            f"send: acked msg/s, {arguments.pairs} pairs, "
                            f"{arguments.in_flight} in flight",
                            f"{send.per_second:,.0f}",
                            f"{echo:,.0f} echo/s",
                            f"{ratio:.2f}",
                            "ratio >= 0.6",
                            ratio >= 0.6,
                        ),
                        Row(
                            f"send->event p50 / p99 at {send.paced_rate:,.0f} msg/s",
                            _ms(send.latency),
                            _ms(relay),
                            f"{send.latency.p50 / relay.p50:.1f} / "
                            f"{send.latency.p99 / relay.p99:.1f}",
                            "p99 <= 25 ms",
                            send.latency.p99 <= 25,
                        ),
                        Row(
                            "send: each acked message received once",
                            f"{send.acknowledged:,} acked, {send.missing} missing, "
                            f"{send.duplicated} twice",
                            "",
                            "",
                            "0 missing, 0 twice",
                            send.missing == 0 and send.duplicated == 0,
                        ),
                        Row("send: retried after UNAVAILABLE", f"{send.retried:,}"),
                    ]
                if "login" in arguments.only:
                    _progress("login: challenge + login, closed loop")
                    login = await measure_login(
                        server.address, in_flight=arguments.in_flight, **timing
                    )
                    rows.append(
                        Row(
                            f"login: challenge+login /s, {arguments.in_flight} in flight",
                            f"{login:,.0f}",
                            f"{echo:,.0f} echo/s",
                            f"{login / echo:.2f}",
                            ">= 500 /s",
                            login >= 500,
                        )
                    )
        finally:
            postgres.drop_database(dsn)
    return rows


async def _streams(postgres: TemporaryPostgres, arguments: argparse.Namespace) -> list[Row]:
    dsn = postgres.create_database()
    try:
        async with ServerProcess(dsn=dsn, config=SERVER_CONFIG) as server:
            _progress(f"streams: opening {arguments.streams:,} idle event streams")
            figures = await measure_streams(
                server,
                streams=arguments.streams,
                devices=arguments.stream_devices,
                processes=arguments.stream_processes,
                probes=arguments.probes,
                samples=arguments.probe_samples,
            )
    finally:
        postgres.drop_database(dsn)
    scaled = "" if figures.streams >= TARGET_STREAMS else " (scaled down)"
    return [
        Row(
            f"streams: idle event streams held{scaled}",
            f"{figures.streams:,}, {figures.ended} ended",
            "",
            "",
            f">= {TARGET_STREAMS:,}, 0 ended",
            # A run scaled down on purpose is not judged on its count, only on endings.
            (figures.streams >= TARGET_STREAMS and figures.ended == 0)
            if not scaled or figures.ended
            else None,
        ),
        Row(
            "streams: server RSS (before the streams)",
            f"{figures.rss_after / MIB:,.0f} MiB ({figures.rss_before / MIB:,.0f})",
            "",
            "",
            "<= 1024 MiB",
            figures.rss_after <= 1024 * MIB,
        ),
        Row(
            "streams: message to one, p50 / p99",
            f"{_ms(figures.latency)}, {figures.lost} lost",
            "",
            "",
            "p99 <= 50 ms, 0 lost",
            figures.latency.p99 <= 50 and figures.lost == 0,
        ),
    ]


async def _growth(postgres: TemporaryPostgres, arguments: argparse.Namespace) -> list[Row]:
    config = dict(SERVER_CONFIG)
    _progress(f"growth: {arguments.small:,} messages")
    small = await measure_reads(
        postgres,
        config,
        arguments.small,
        samples=arguments.read_samples,
        many_friends=arguments.many_friends,
    )
    _progress(f"growth: {arguments.large:,} messages (bulk load first)")
    large = await measure_reads(
        postgres, config, arguments.large, samples=arguments.read_samples, many_friends=0
    )
    rows = []
    for name, latency in large.reads.items():
        before = small.reads[name]
        ratio = latency.p50 / before.p50
        rows.append(
            Row(
                f"growth: {name}, {small.messages:,} -> {large.messages:,} msgs",
                _ms(latency),
                _ms(before),
                f"{ratio:.2f} / {latency.p99 / before.p99:.2f}",
                "p50 ratio <= 1.5",
                ratio <= 1.5,
            )
        )
    crowded = f"friend list, {arguments.many_friends} entries"
    if crowded in small.reads:
        latency = small.reads[crowded]
        rows.append(
            Row(
                f"growth: {crowded}",
                _ms(latency),
                "",
                "",
                "p50 <= 20 ms",
                latency.p50 <= 20,
            )
        )
    return rows


async def _client(postgres: TemporaryPostgres, arguments: argparse.Namespace) -> list[Row]:
    dsn = postgres.create_database()
    try:
        async with ServerProcess(dsn=dsn, config=SERVER_CONFIG) as server:
            _progress(f"client: outbox of {arguments.outbox:,} after a server restart")
            figures = await measure_outbox(server, messages=arguments.outbox)
    finally:
        postgres.drop_database(dsn)
    return [
        Row(
            f"client: outbox of {figures.queued:,} drains after restart",
            f"{figures.drain_seconds:.2f} s (online at {figures.online_seconds:.2f} s)",
            "",
            "",
            "<= 5 s",
            figures.drain_seconds <= 5,
        ),
        Row(
            "client: outbox messages stored once",
            f"last server_seq {figures.stored:,}",
            "",
            "",
            f"= {figures.queued:,}",
            figures.stored == figures.queued,
        ),
    ]


async def _run(postgres: TemporaryPostgres, arguments: argparse.Namespace) -> list[Row]:
    sizes = MessageSizes.of_chatview()
    _progress(
        f"message sizes: request {sizes.request} B, reply {sizes.reply} B, event {sizes.event} B"
    )
    rows: list[Row] = []
    if {"send", "login"} & set(arguments.only):
        rows += await _send_and_login(postgres, arguments, sizes)
    if "streams" in arguments.only:
        rows += await _streams(postgres, arguments)
    if "growth" in arguments.only:
        rows += await _growth(postgres, arguments)
    if "client" in arguments.only:
        rows += await _client(postgres, arguments)
    return rows


def format_table(rows: Sequence[Row]) -> str:
    """Return the rows as an aligned text table with a header."""
    header = Row("measure", "value", "baseline", "ratio", "target", None)
    cells = [
        [row.measure, row.value, row.baseline, row.ratio, row.target, _verdict(row.passed)]
        for row in (header, *rows)
    ]
    cells[0][5] = "result"
    widths = [max(len(line[column]) for line in cells) for column in range(6)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: short durations, scaled-down sizes"
    )
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit with status 1 when a figure misses"
    )
    parser.add_argument(
        "--only",
        default=",".join(MEASURES),
        help=f"comma-separated measures to run, of {','.join(MEASURES)}",
    )
    # (name, type, full value, --quick value, help)
    scaled: list[tuple[str, type, float, float, str]] = [
        ("duration", float, 20, 3, "seconds of each timed load (send, paced send, login, echo)"),
        ("warm-up", float, 2, 0.5, "seconds of load before a closed loop is counted"),
        ("pairs", int, 50, 50, "sender/receiver pairs of the send measure"),
        ("in-flight", int, 32, 32, "calls open at once (send, login, echo)"),
        ("streams", int, 10_000, 600, "idle event streams held by the server"),
        ("stream-devices", int, 5, 5, "event streams per user (devices)"),
        ("stream-processes", int, 4, 2, "client processes holding the idle streams"),
        ("probes", int, 10, 10, "streams held here, to which probe messages go"),
        ("probe-samples", int, 300, 50, "probe messages timed through the streams"),
        ("small", int, 1_000, 1_000, "messages in the small data set"),
        ("large", int, 1_000_000, 20_000, "messages in the large data set"),
        ("read-samples", int, 400, 60, "timed calls per read"),
        ("many-friends", int, 500, 500, "contacts of the user whose friend list is timed"),
        ("outbox", int, 1_000, 200, "messages queued in the client's outbox"),
    ]
    for name, kind, _, _, text in scaled:
        parser.add_argument(f"--{name}", type=kind, default=None, help=text)
    arguments = parser.parse_args(argv)
    for name, kind, full, quick, _ in scaled:
        attribute = name.replace("-", "_")
        if getattr(arguments, attribute) is None:
            setattr(arguments, attribute, kind(quick if arguments.quick else full))
    arguments.only = [name.strip() for name in arguments.only.split(",") if name.strip()]
    unknown = set(arguments.only) - set(MEASURES)
    if unknown:
        parser.error(f"unknown measure(s) {', '.join(sorted(unknown))}; use {','.join(MEASURES)}")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measures asked for and print the table.

    Returns:
        The exit status: 1 with ``--fail-on-miss`` when a figure missed, else 0.
    """
    arguments = _parse(argv)
    # Libraries log every send and retry at info; the table is the output here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    open_files = raise_open_files_limit()
    external = os.environ.get(BENCH_DSN_VARIABLE, "")
    postgres = TemporaryPostgres.start(environ={TEST_DSN_VARIABLE: external} if external else {})
    print(
        f"ChatView benchmark{' (--quick)' if arguments.quick else ''}: {os.cpu_count()} CPUs, "
        f"PostgreSQL {'external' if external else 'embedded'}, open files limit {open_files:,}, "
        f"{arguments.duration:g} s per timed load"
    )
    try:
        rows = asyncio.run(_run(postgres, arguments))
    finally:
        postgres.close()
    print()
    print(format_table(rows))
    missed = [row for row in rows if row.passed is False]
    print()
    print(f"{len(rows) - len(missed)} of {len(rows)} rows without a MISS")
    return 1 if missed and arguments.fail_on_miss else 0


if __name__ == "__main__":
    sys.exit(main())
