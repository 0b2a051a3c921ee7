"""A stand-in server process for the tests: a hub on PostgresBackend holding connections.

Run: ``python run_node.py DSN CHANNEL USER...``. Prints ``ready`` once the users are
online in the shared tables, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys

import structlog

from chatview_hub import EventCodec, Hub, PostgresBackend


async def main(dsn: str, channel: str, users: list[str]) -> None:
    codec: EventCodec[str] = EventCodec(encode=str.encode, decode=bytes.decode)
    backend: PostgresBackend[str] = PostgresBackend(dsn, codec, channel=channel, heal_interval=60)
    hub: Hub[str] = Hub(backend=backend)
    await backend.start()
    connections = [hub.connect(user, "device") for user in users]
    await backend.flush()
    print("ready", len(connections), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    # Logs go to stderr: stdout carries the "ready" line the test waits for.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
