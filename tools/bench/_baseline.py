"""The baseline: bare grpc.aio services with ChatView's message sizes, in a child process.

Two services, raw bytes in and out (no protobuf), with no database and no logic:

* ``/bench.Echo/Echo`` returns, for every request, a reply of the SendMessage reply's size;
* ``/bench.Relay/Subscribe`` (server streaming) registers a receiver, and
  ``/bench.Relay/Publish`` hands an event of the new-message event's size to that
  receiver's stream, then answers like Echo. Publish plus the event is what a send
  is, minus everything ChatView does in between.

Run as ``python -m tools.bench._baseline --port-file F --reply-bytes N --event-bytes M``;
`BaselineProcess` does that and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc

ECHO = "/bench.Echo/Echo"
SUBSCRIBE = "/bench.Relay/Subscribe"
PUBLISH = "/bench.Relay/Publish"
_ROOT = Path(__file__).resolve().parents[2]


def publish_request(receiver: str, tag: str, size: int) -> bytes:
    """Return a Publish request for `receiver` carrying `tag`, padded to `size` bytes."""
    head = f"{receiver}\n{tag}\n".encode()
    return head + b"x" * max(0, size - len(head))


def event_tag(event: bytes) -> str:
    """Return the tag an event of the relay carries."""
    return event.split(b"\n", 1)[0].decode()


class _Relay:
    def __init__(self, reply_bytes: int, event_bytes: int) -> None:
        self.reply = b"r" * reply_bytes
        self.event_bytes = event_bytes
        self.queues: dict[str, asyncio.Queue[bytes]] = {}

    async def echo(self, _request: bytes, _context: Any) -> bytes:
        return self.reply

    async def publish(self, request: bytes, _context: Any) -> bytes:
        receiver, tag, _ = request.split(b"\n", 2)
        queue = self.queues.get(receiver.decode())
        if queue is not None:
            head = tag + b"\n"
            queue.put_nowait(head + b"e" * max(0, self.event_bytes - len(head)))
        return self.reply

    async def subscribe(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        receiver = request.decode()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.queues[receiver] = queue
        try:
            # Headers first, as ChatView does: the client then knows it is registered.
            await context.send_initial_metadata(())
            while True:
                yield await queue.get()
        finally:
            self.queues.pop(receiver, None)


async def _serve(port_file: Path, reply_bytes: int, event_bytes: int) -> None:
    relay = _Relay(reply_bytes, event_bytes)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(relay.echo)}
            ),
            grpc.method_handlers_generic_handler(
                "bench.Relay",
                {
                    "Publish": grpc.unary_unary_rpc_method_handler(relay.publish),
                    "Subscribe": grpc.unary_stream_rpc_method_handler(relay.subscribe),
                },
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    # Written last, and renamed into place, so a reader never sees half a number.
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(port), encoding="utf-8")
    partial.rename(port_file)
    await stop.wait()
    await server.stop(0)


class BaselineProcess:
    """The baseline services in a child process on a free loopback port.

    Args:
        reply_bytes: size of every unary reply.
        event_bytes: size of every streamed event.
    """

    def __init__(self, *, reply_bytes: int, event_bytes: int) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="chatview-bench-baseline-"))
        self._arguments = ["--reply-bytes", str(reply_bytes), "--event-bytes", str(event_bytes)]
        self._process: subprocess.Popen[bytes] | None = None
        self.address = ""

    def start(self) -> Self:
        """Start the child and wait until it listens.

        Raises:
            RuntimeError: it exited or did not listen within 30 seconds.
        """
        port_file = self._folder / "port"
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.bench._baseline",
                "--port-file",
                str(port_file),
                *self._arguments,
            ],
            cwd=_ROOT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                msg = f"the baseline server did not start (status {self._process.poll()})"
                raise RuntimeError(msg)
            time.sleep(0.02)
        self.address = f"127.0.0.1:{port_file.read_text(encoding='utf-8')}"
        return self

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 10 seconds) and remove its folder."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for path in self._folder.iterdir():
            path.unlink()
        self._folder.rmdir()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="bare grpc.aio echo and relay services")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--reply-bytes", type=int, required=True)
    parser.add_argument("--event-bytes", type=int, required=True)
    arguments = parser.parse_args(argv)
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    asyncio.run(_serve(arguments.port_file, arguments.reply_bytes, arguments.event_bytes))


if __name__ == "__main__":
    _main(sys.argv[1:])
