"""A real ``chatview-server`` in a child process, for tests of the server and of clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Final, Self, final

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chatview_server._config import CONFIG_KEYS, ENV_PREFIX
from chatview_server._embedded import stop_cluster

__all__ = ["ServerProcess", "ServerStartError"]

_KEYS: Final = {key.name: key for key in CONFIG_KEYS}
# Lines of the server log quoted in a start failure.
_LOG_TAIL_LINES: Final = 40


class ServerStartError(RuntimeError):
    """The server process exited or did not report SERVING in time; the message has its log."""


@final
class ServerProcess:
    """A ``python -m chatview_server serve`` child process on a loopback port.

    The first start listens on ``127.0.0.1:0`` and reads the bound port from the
    server's port file. `restart` reuses that port, the database and the data
    directory, so clients can reconnect to the same address. Starting waits until
    the standard gRPC health check reports SERVING.

    Use it as a context manager (``with`` or ``async with``): entering starts the
    server, leaving stops it (SIGTERM, then SIGKILL after `stop_timeout`) and stops
    an embedded PostgreSQL that a killed server left running. The async forms run
    the blocking parts in a worker thread.

    Args:
        dsn: PostgreSQL URL of the server's database. None: the server starts an
            embedded PostgreSQL in ``data_dir``.
        data_dir: the server's data directory; a new temporary one when None.
        config: extra configuration keys and values, passed as command-line flags
            (``{"session_ttl": "2s", "skip_migrations": True}``).
        env: extra environment variables for the child process.
        startup_timeout: seconds to wait for SERVING (an embedded PostgreSQL's first
            start runs initdb, which takes a few seconds).
        stop_timeout: seconds `stop` waits after SIGTERM before it sends SIGKILL.

    Not thread-safe; one instance drives one process at a time.
    """

    def __init__(
        self,
        *,
        dsn: str | None = None,
        data_dir: Path | None = None,
        config: Mapping[str, object] | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 90.0,
        stop_timeout: float = 30.0,
    ) -> None:
        for name in config or {}:
            if name not in _KEYS:
                msg = f"unknown config key {name!r}; known keys: {', '.join(sorted(_KEYS))}"
                raise ValueError(msg)
        self._work_dir = Path(tempfile.mkdtemp(prefix="chatview-server-test-"))
        # The embedded PostgreSQL runs as another user when the tests run as root.
        self._work_dir.chmod(0o755)
        self.dsn = dsn
        self.data_dir = data_dir if data_dir is not None else self._work_dir / "data"
        self.config = dict(config or {})
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.log_path = self._work_dir / "server.log"
        self.port_file = self._work_dir / "port"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    # -- state ------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, the target for ``grpc.aio.insecure_channel``.

        With ``tls_cert`` in `config` the server speaks TLS only, and the health check
        trusts that certificate as its root, so it must name ``IP:127.0.0.1``.

        Raises:
            RuntimeError: the server has not been started yet.
        """
        if not self.port:
            msg = "the server has not been started; call start() first"
            raise RuntimeError(msg)
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id of the running server, or None."""
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status of the last process, or None while it runs or before a start."""
        return self._process.poll() if self._process is not None else None

    @property
    def is_running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        """Return everything the server processes wrote to standard output and error."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def command(self) -> list[str]:
        """Return the command line of the next start."""
        listen = f"127.0.0.1:{self.port}"
        args = [
            sys.executable,
            "-m",
            "chatview_server",
            "serve",
            "--listen-addr",
            listen,
            "--port-file",
            str(self.port_file),
            "--data-dir",
            str(self.data_dir),
            "--log-format",
            "json",
        ]
        if self.dsn is not None:
            args += ["--db-dsn", self.dsn]
        for name, value in self.config.items():
            key = _KEYS[name]
            if key.is_boolean:
                args.append(key.flag if value else "--no-" + key.flag[2:])
            else:
                args += [key.flag, str(value)]
        return args

    # -- starting and stopping --------------------------------------------------------

    def start(self) -> Self:
        """Start the process and wait until its health check reports SERVING.

        Raises:
            RuntimeError: the server is already running.
            ServerStartError: the process exited or did not become healthy in time.
        """
        if self.is_running:
            msg = f"the server is already running (pid {self.pid})"
            raise RuntimeError(msg)
        self.port_file.unlink(missing_ok=True)

        environ = {
            name: value
            for name, value in os.environ.items()
            # Configuration of the surrounding shell must not leak into a test server.
            if not (name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() in _KEYS)
        }
        environ.update(self.env)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
                start_new_session=True,
            )
        try:
            self._wait_until_serving()
        except BaseException:
            self._kill_quietly()
            raise
        return self

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not self.port_file.exists():
            if not self.is_running:
                self._fail(f"the server exited with status {self.returncode} while starting")
            if time.monotonic() > deadline:
                self._fail(f"the server did not start listening within {self.startup_timeout} s")
            time.sleep(0.05)

        host_port = self.port_file.read_text(encoding="utf-8").strip()
        self.port = int(host_port.rpartition(":")[2])
        with self._health_channel() as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._fail(
                        f"the health check did not report SERVING within {self.startup_timeout} s"
                    )
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=min(remaining, 5.0))
                except grpc.RpcError:
                    reply = None
                if reply is not None and reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                if not self.is_running:
                    self._fail(f"the server exited with status {self.returncode} while starting")
                time.sleep(0.05)

    def _health_channel(self) -> grpc.Channel:
        cert = self.config.get("tls_cert")
        if not cert:
            return grpc.insecure_channel(self.address)
        # A test certificate is its own root; it must name 127.0.0.1.
        credentials = grpc.ssl_channel_credentials(root_certificates=Path(str(cert)).read_bytes())
        return grpc.secure_channel(self.address, credentials)

    def _fail(self, reason: str) -> None:
        tail = "\n".join(self.log_text().splitlines()[-_LOG_TAIL_LINES:])
        msg = f"{reason}; command {' '.join(self.command())}\n--- server log (end) ---\n{tail}"
        raise ServerStartError(msg)

    def stop(self, kill_after: float | None = None) -> int:
        """Send SIGTERM and wait for the exit; send SIGKILL after `kill_after` seconds.

        `kill_after` defaults to `stop_timeout`.

        Returns:
            The exit status (negative: killed by that signal). 0 after a clean stop.
        """
        process = self._process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout if kill_after is None else kill_after)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def kill(self) -> int:
        """Send SIGKILL and wait; an embedded PostgreSQL keeps running for a restart.

        Returns:
            The exit status, ``-9`` when the signal killed it.
        """
        process = self._process
        if process is None:
            return 0
        if process.poll() is None:
            process.kill()
        return process.wait()

    def send_signal(self, signum: int) -> None:
        """Send `signum` to the server process (it must be running)."""
        if self._process is None or self._process.poll() is not None:
            msg = "the server is not running"
            raise RuntimeError(msg)
        self._process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for the process to exit and return its status.

        Raises:
            subprocess.TimeoutExpired: it is still running.
        """
        if self._process is None:
            return 0
        return self._process.wait(timeout)

    def restart(self) -> Self:
        """Stop the server if it runs, then start it on the same port and database."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and a PostgreSQL it left running, and remove temporary files.

        A data directory passed in by the caller is kept; the temporary one is removed.
        """
        self.stop()
        if self.dsn is None:
            pgdata = self.data_dir / "postgres"
            with contextlib.suppress(Exception):
                stop_cluster(pgdata)
        if os.environ.get("CHATVIEW_KEEP_TEST_SERVER_LOGS"):
            return
        shutil.rmtree(self._work_dir, ignore_errors=True)

    def _kill_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.kill()

    # -- context managers -------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def astart(self) -> Self:
        """`start` in a worker thread."""
        return await asyncio.to_thread(self.start)

    async def astop(self, kill_after: float | None = None) -> int:
        """`stop` in a worker thread."""
        return await asyncio.to_thread(self.stop, kill_after)

    async def akill(self) -> int:
        """`kill` in a worker thread."""
        return await asyncio.to_thread(self.kill)

    async def arestart(self) -> Self:
        """`restart` in a worker thread."""
        return await asyncio.to_thread(self.restart)

    async def __aenter__(self) -> Self:
        try:
            return await self.astart()
        except BaseException:
            await asyncio.to_thread(self.close)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        state = f"running pid={self.pid}" if self.is_running else f"stopped rc={self.returncode}"
        database = "embedded" if self.dsn is None else "external"
        return f"<ServerProcess {state} port={self.port} database={database}>"
