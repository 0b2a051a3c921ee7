"""Two people chat through the real ``chatview`` command against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatview_server.testing import ServerProcess
from chatview_store_pg.testing import TemporaryPostgres

CHATVIEW = str(Path(sys.executable).parent / "chatview")
SERVER_CONFIG = {"login_rate_per_minute": 100_000, "send_rate_per_second": 1000}


@pytest.fixture(scope="module")
def server(chatview_postgres: TemporaryPostgres) -> Iterator[ServerProcess]:
    dsn = chatview_postgres.create_database()
    try:
        with ServerProcess(dsn=dsn, config=SERVER_CONFIG) as process:
            yield process
    finally:
        chatview_postgres.drop_database(dsn)


class Person:
    """One identity's data folder, driven through the command line."""

    def __init__(self, root: Path, name: str, server: ServerProcess) -> None:
        self.data_dir = root / name
        self.server = server
        self.env = {**os.environ, "CHATVIEW_PIN": "1357", "CHATVIEW_CONFIG": ""}
        self.key = ""

    def args(self, *args: str) -> list[str]:
        return [CHATVIEW, "--data-dir", str(self.data_dir), "--server", self.server.address, *args]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.args(*args),
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self.run(*args, stdin=stdin)
        assert 0 == result.returncode, result.stderr
        return result.stdout

    def json_lines(self, *args: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ok("--json", *args).splitlines()]

    def listen(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args("--json", "listen"),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def read_until(process: subprocess.Popen[str], wanted: str, within: float = 30.0) -> dict[str, Any]:
    """Read JSON lines from a listener until an event named `wanted`."""
    assert process.stdout is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        event: dict[str, Any] = json.loads(line)
        if event["event"] == wanted:
            return event
    pytest.fail(f"no {wanted} event from the listener within {within} s")


class TestChat:
    def test_two_people(self, server: ServerProcess, tmp_path: Path) -> None:
        """Create, befriend, send, listen, reply, read history on both sides."""
        alice, bob = Person(tmp_path, "alice", server), Person(tmp_path, "bob", server)
        alice.key = alice.ok("id", "create").strip()
        bob.key = bob.ok("id", "create").strip()
        assert "logged in" in bob.ok("login")

        listener = bob.listen()
        try:
            assert "connecting" == read_until(listener, "connection_state")["state"]
            assert "online" == read_until(listener, "connection_state")["state"]
            alice.ok("friends", "add", bob.key, "--alias", "bob")
            sent = alice.ok("send", bob.key, "hello bob 你好")
            assert sent.startswith("sent #1 to ")

            heard = read_until(listener, "new_message")["message"]
            assert ("hello bob 你好", alice.key, "incoming") == (
                heard["text"],
                heard["sender"],
                heard["state"],
            )
        finally:
            listener.send_signal(signal.SIGINT)
            assert 0 == listener.wait(30)

        bob.ok("send", alice.key, stdin="hi alice\n")
        alice_view = [
            (m["server_seq"], m["sender"], m["text"]) for m in alice.json_lines("history", bob.key)
        ]
        assert [(1, alice.key, "hello bob 你好"), (2, bob.key, "hi alice")] == alice_view
        first, second = bob.ok("history", alice.key).splitlines()
        assert first.endswith(f"{alice.key[:8]}: hello bob 你好")
        assert second.endswith("me: hi alice")
        assert (first.lstrip().startswith("#1 "), second.lstrip().startswith("#2 ")) == (True, True)

        friends = alice.json_lines("friends")
        assert [(bob.key, "bob", 1)] == [
            (f["public_key"], f["alias"], f["unread"]) for f in friends
        ]
        alice.ok("read", bob.key)
        assert [0] == [f["unread"] for f in alice.json_lines("friends")]

    def test_refusal_status(self, server: ServerProcess, tmp_path: Path) -> None:
        """A non-admin asking for admin data gets the server-refusal status."""
        carol = Person(tmp_path, "carol", server)
        carol.ok("id", "create")

        result = carol.run("admin", "stats")

        assert 5 == result.returncode
        assert result.stderr.startswith(
            "chatview: error: PollAdminEvents failed with PERMISSION_DENIED"
        )


def read_events(process: subprocess.Popen[str], wanted: str, count: int) -> list[dict[str, Any]]:
    """Read JSON lines from a listener until the `count`-th event named `wanted`; return all."""
    assert process.stdout is not None
    events: list[dict[str, Any]] = []
    while sum(event["event"] == wanted for event in events) < count:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the listener ended before {count} {wanted} events: {events}")
        events.append(json.loads(line))
    return events


class TestUsability:
    def test_aliases_shown(self, server: ServerProcess, tmp_path: Path) -> None:
        """history and listen name a contact by alias and the user as "me"."""
        alice, bob = Person(tmp_path, "alice", server), Person(tmp_path, "bob", server)
        alice.key = alice.ok("id", "create").strip()
        bob.key = bob.ok("id", "create").strip()
        bob.ok("login")
        alice.ok("friends", "add", bob.key, "--alias", "Bob")
        listener = subprocess.Popen(
            alice.args("listen", "--count", "1"),
            env=alice.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stderr is not None
            while listener.stderr.readline().strip() != "-- online":
                assert listener.poll() is None, "the listener ended before going online"
            bob.ok("send", alice.key, "hello")
            heard, _ = listener.communicate(timeout=30)
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.wait(30)
        alice.ok("send", bob.key, "hi")

        assert heard.rstrip().endswith("Bob: hello")
        lines = alice.ok("history", bob.key).splitlines()
        assert ["Bob: hello", "me: hi"] == [line.strip().split("  ", 2)[-1] for line in lines]

    def test_friends_hint(self, server: ServerProcess, tmp_path: Path) -> None:
        """An empty contact list prints how to add a contact."""
        dave = Person(tmp_path, "dave", server)
        dave.ok("id", "create")

        result = dave.run("friends")

        assert (0, "") == (result.returncode, result.stdout)
        assert "chatview friends add KEY --alias NAME" in result.stderr

    def test_one_shot_unseen(self, server: ServerProcess, tmp_path: Path) -> None:
        """Commands other than listen do not make the user appear online to a listener."""
        alice, bob = Person(tmp_path, "alice", server), Person(tmp_path, "bob", server)
        alice.key = alice.ok("id", "create").strip()
        bob.key = bob.ok("id", "create").strip()
        bob.ok("login")
        alice.ok("friends", "add", bob.key, "--alias", "bob")
        listener = alice.listen()
        try:
            read_until(listener, "connection_state")
            assert "online" == read_until(listener, "connection_state")["state"]
            bob.ok("send", alice.key, "one")
            bob.ok("friends")
            bob.ok("history", alice.key)
            bob.ok("send", alice.key, "two")
            events = read_events(listener, "new_message", 2)
        finally:
            listener.send_signal(signal.SIGINT)
            listener.wait(30)

        assert [] == [event for event in events if event["event"] == "friend_status"]
