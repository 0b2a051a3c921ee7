"""Pieces every scenario shares: the fault proxy, process figures, result records."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import psutil

__all__ = [
    "ProcessFigures",
    "Report",
    "ResourceSampler",
    "load_fault_proxy",
    "process_figures",
]

_ROOT = Path(__file__).resolve().parents[2]
_PROXY_PATH = _ROOT / "packages" / "chatview-client-core" / "tests" / "cases" / "proxy.py"


def load_fault_proxy() -> Any:
    """Return the `FaultProxy` class of client-core's test cases.

    It lives in a test folder, not in an installed package, so it is loaded from its
    file rather than copied here.
    """
    name = "chatview_client_tests_proxy"
    module: ModuleType | None = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, _PROXY_PATH)
        if spec is None or spec.loader is None:
            msg = f"cannot load the fault proxy from {_PROXY_PATH}; is the repository complete?"
            raise ImportError(msg)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module.FaultProxy


@attrs.frozen
class ProcessFigures:
    """Resource use of one process at one moment."""

    rss_bytes: int
    open_files: int
    threads: int

    def describe(self) -> str:
        return f"rss={self.rss_bytes / 2**20:.1f} MiB fds={self.open_files} threads={self.threads}"


def process_figures(pid: int) -> ProcessFigures:
    """Read RSS, open file descriptors and threads of process `pid`."""
    process = psutil.Process(pid)
    with process.oneshot():
        return ProcessFigures(
            rss_bytes=process.memory_info().rss,
            open_files=process.num_fds(),
            threads=process.num_threads(),
        )


class ResourceSampler:
    """Samples a process's figures in the background, following it across restarts."""

    def __init__(self, pid_of: Any, interval: float = 0.5) -> None:
        self._pid_of = pid_of
        self._interval = interval
        self.samples: list[tuple[float, ProcessFigures]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            pid = self._pid_of()
            if pid is not None:
                # Between a kill and the restart there is no process to sample.
                with contextlib.suppress(psutil.Error):
                    self.samples.append((time.monotonic(), process_figures(pid)))
            await asyncio.sleep(self._interval)

    @property
    def peak_rss(self) -> int:
        return max((figures.rss_bytes for _, figures in self.samples), default=0)


@attrs.define
class Report:
    """Figures and failures of one scenario."""

    name: str
    figures: dict[str, object] = attrs.Factory(dict)
    failures: list[str] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    seconds: float = 0.0

    def fail(self, text: str) -> None:
        self.failures.append(text)

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> Iterator[str]:
        verdict = "PASS" if self.ok else "FAIL"
        yield f"== {self.name}: {verdict} ({self.seconds:.1f} s)"
        for key, value in self.figures.items():
            yield f"   {key}: {value}"
        for note in self.notes:
            yield f"   note: {note}"
        for failure in self.failures:
            yield f"   FAILURE: {failure}"
