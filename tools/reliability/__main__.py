"""Command line of the reliability suite: ``python -m tools.reliability``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import traceback
from collections.abc import Sequence

import structlog

from ._backpressure import BackpressurePlan, run_backpressure
from ._common import Report
from ._faults import FaultPlan, run_faults
from ._fuzz import FuzzPlan, run_fuzz
from ._postgres import RestartablePostgres
from ._soak import SoakPlan, run_soak

SCENARIOS = ("faults", "backpressure", "fuzz", "soak")

# CI-sized and full-sized figures: (messages per client, flood events, fuzz calls, soak s)
# The fuzzing keeps its full 10,400 calls in CI too: bad input is cheap to cover.
_CI = (25, 5_000, 10_400, 0.0)
_LONG = (500, 100_000, 10_400, 600.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.reliability",
        description="End-to-end reliability checks against a real server, PostgreSQL and clients.",
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help="full size: 500 messages per client, "
        "100,000 flood events, 10,400 fuzz calls and a 10-minute soak",
    )
    parser.add_argument(
        "--scale", type=int, metavar="N", help="messages per client in the fault scenario"
    )
    parser.add_argument(
        "--clients", type=int, default=20, help="clients in the fault scenario (20)"
    )
    parser.add_argument("--events", type=int, help="events of the stalled-subscriber flood")
    parser.add_argument("--fuzz-calls", type=int, help="fuzzed calls in total, over every RPC")
    parser.add_argument("--soak-seconds", type=float, help="soak length; 0 skips it")
    parser.add_argument(
        "--only", action="append", choices=SCENARIOS, help="run only these (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the traffic and fault order")
    return parser


async def _run(args: argparse.Namespace) -> list[Report]:
    messages, events, fuzz_calls, soak_seconds = _LONG if args.long else _CI
    messages = args.scale if args.scale is not None else messages
    events = args.events if args.events is not None else events
    fuzz_calls = args.fuzz_calls if args.fuzz_calls is not None else fuzz_calls
    soak_seconds = args.soak_seconds if args.soak_seconds is not None else soak_seconds
    chosen = args.only or [name for name in SCENARIOS if name != "soak" or soak_seconds > 0]

    postgres = await asyncio.to_thread(RestartablePostgres.start)
    reports: list[Report] = []
    try:
        for name in chosen:
            print(f"-- running {name} ...", flush=True)
            started = time.monotonic()
            try:
                if name == "faults":
                    plan = FaultPlan(
                        clients=args.clients,
                        messages_per_client=messages,
                        pause=3.0 if args.long else 2.0,
                        # The 20 clients share one Python process, which sends about 40
                        # messages/s on 2 cores, so outboxes drain long after the last send.
                        settle_timeout=120.0 + 0.05 * args.clients * messages,
                        seed=args.seed,
                    )
                    report = await run_faults(postgres, plan)
                elif name == "backpressure":
                    report = await run_backpressure(postgres, BackpressurePlan(events=events))
                elif name == "fuzz":
                    report = await run_fuzz(postgres, FuzzPlan(calls=fuzz_calls))
                else:
                    report = await run_soak(postgres, SoakPlan(seconds=soak_seconds or 600.0))
            except Exception as exc:
                traceback.print_exc()
                report = Report(name, seconds=time.monotonic() - started)
                report.fail(f"the scenario itself crashed: {type(exc).__name__}: {exc}")
            reports.append(report)
            print("\n".join(report.lines()), flush=True)
    finally:
        await asyncio.to_thread(postgres.close)
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios; the exit status is 1 when any failed."""
    args = _parser().parse_args(argv)
    # The libraries log every send and reconnect at INFO; the figures are the output.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = time.monotonic()
    reports = asyncio.run(_run(args))
    failed = [report.name for report in reports if not report.ok]
    print(
        f"== reliability: {len(reports) - len(failed)} of {len(reports)} passed "
        f"in {time.monotonic() - started:.0f} s"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
