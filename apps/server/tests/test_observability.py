"""Metrics endpoint and log hygiene, checked on a real server process after real traffic."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
import urllib.request
import uuid
from collections.abc import Iterator

import grpc
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from chatview_identity import KeyPair, sign_challenge
from chatview_proto import auth_pb2
from chatview_server import ConfigError
from chatview_server._config import load_config
from chatview_server._logging import configure_logging
from chatview_server.testing import ProtocolClient, ServerProcess, wait_for_event

SEND = "/chatview.chat.ChatService/SendMessage"
HISTORY = "/chatview.chat.ChatService/GetMessageHistory"
POOL_SIZE = 4

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def server(module_dsn: str, relaxed_limits: dict[str, object]) -> Iterator[ServerProcess]:
    """A server logging at debug level, with the metrics endpoint on a free port."""
    config: dict[str, object] = {
        **relaxed_limits,
        "log_level": "debug",
        "metrics_addr": "127.0.0.1:0",
        "db_pool_size": POOL_SIZE,
    }
    with ServerProcess(dsn=module_dsn, config=config) as process:
        yield process


def _log_lines(server: ServerProcess) -> list[dict[str, object]]:
    lines = []
    for line in server.log_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _metrics_address(server: ServerProcess) -> str:
    for line in _log_lines(server):
        if line.get("event") == "metrics.listening":
            return str(line["address"])
    pytest.fail("the server logged no metrics.listening line")


def _scrape(server: ServerProcess) -> Samples:
    url = f"http://{_metrics_address(server)}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode("utf-8")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def _traffic(server: ServerProcess) -> dict[str, str]:
    """Log two users in, stream, send, resend, fail once; return the secrets used."""
    secrets: dict[str, str] = {}
    async with grpc.aio.insecure_channel(server.address) as channel:
        alice_keys = KeyPair.generate()
        alice = ProtocolClient(channel, alice_keys)
        challenge = await alice.auth.RequestChallenge(
            auth_pb2.RequestChallengeReq(public_key=alice.key)
        )
        signature = sign_challenge(alice_keys, challenge.challenge)
        reply = await alice.auth.Login(
            auth_pb2.LoginReq(
                public_key=alice.key, challenge_signature=signature, client_id="laptop"
            )
        )
        alice.token = reply.session_token
        bob = await ProtocolClient(channel).login()
        stream = await bob.subscribe("phone")

        texts = [f"confidential note {uuid.uuid4().hex}" for _ in range(3)]
        for text in texts:
            await alice.send(bob.key, text)
            await wait_for_event(stream, "new_message")
        # The same client_message_id again: what an outbox does after a lost reply.
        repeated_id = str(uuid.uuid4())
        await alice.send(bob.key, texts[0] + " again", repeated_id)
        await alice.send(bob.key, texts[0] + " again", repeated_id)
        with pytest.raises(grpc.aio.AioRpcError):
            await alice.send("not-a-key", "lost")
        await alice.history(bob.key)
        stream.cancel()
        await bob.logout()

        secrets.update(
            token=alice.token,
            bob_token=bob.token,
            seed=alice_keys.seed_hex(),
            signature_hex=signature.hex(),
            signature_b64=_b64(signature),
        )
        secrets.update({f"text{index}": text for index, text in enumerate(texts)})
    return secrets


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@pytest.fixture(scope="module")
def observed(server: ServerProcess) -> tuple[Samples, Samples, dict[str, str]]:
    """Metrics before and after the traffic, and the secrets the traffic used."""
    before = _scrape(server)
    secrets = asyncio.run(_traffic(server))
    after = _scrape(server)
    return before, after, secrets


class TestMetrics:
    def test_rpc_counts(self, observed: tuple[Samples, Samples, dict[str, str]]) -> None:
        """Sends are counted per method and status code."""
        before, after, _ = observed
        name = "chatview_rpc_requests_total"

        sent_ok = _value(after, name, method=SEND, code="OK") - _value(
            before, name, method=SEND, code="OK"
        )

        assert sent_ok == 5
        assert _value(after, name, method=SEND, code="INVALID_ARGUMENT") == 1

    def test_latency(self, observed: tuple[Samples, Samples, dict[str, str]]) -> None:
        """Each call lands in the duration histogram of its method."""
        _, after, _ = observed

        count = _value(after, "chatview_rpc_duration_seconds_count", method=HISTORY)

        assert count == 1
        assert _value(after, "chatview_rpc_duration_seconds_sum", method=HISTORY) > 0

    def test_fan_out(self, observed: tuple[Samples, Samples, dict[str, str]]) -> None:
        """Events reached the stream, and the stream was counted while open."""
        before, after, _ = observed

        delivered = _value(after, "chatview_events_fanned_out_total") - _value(
            before, "chatview_events_fanned_out_total"
        )
        opened = _value(after, "chatview_event_streams_opened_total")

        assert delivered >= 4
        assert opened >= 1

    def test_deduplicated(self, observed: tuple[Samples, Samples, dict[str, str]]) -> None:
        """A resent message counts as a deduplicated send."""
        _, after, _ = observed

        assert _value(after, "chatview_send_deduplicated_total") == 1

    def test_store_figures(self, observed: tuple[Samples, Samples, dict[str, str]]) -> None:
        """Pool size and the retry counters are exported."""
        _, after, _ = observed

        assert _value(after, "chatview_db_pool_size") == POOL_SIZE
        assert 0 <= _value(after, "chatview_db_pool_checked_out") <= POOL_SIZE
        assert ("chatview_store_write_retries_total", ()) in after
        assert ("chatview_event_streams_overflowed_total", ()) in after

    def test_gauges_fall(
        self, server: ServerProcess, observed: tuple[Samples, Samples, dict[str, str]]
    ) -> None:
        """After the stream ended, no stream is open and no user online."""
        # The server ends a cancelled stream on its own schedule; poll a little.
        after = _scrape(server)
        for _ in range(50):
            if _value(after, "chatview_event_streams_open") == 0:
                break
            time.sleep(0.1)
            after = _scrape(server)

        assert _value(after, "chatview_event_streams_open") == 0
        assert _value(after, "chatview_users_online") == 0


class TestLogs:
    def test_no_secrets(
        self, server: ServerProcess, observed: tuple[Samples, Samples, dict[str, str]]
    ) -> None:
        """Tokens, the key seed, the signature and message texts never reach the log."""
        _, _, secrets = observed
        log = server.log_text()

        found = [name for name, value in secrets.items() if value in log]

        assert "rpc.completed" in log  # the log was captured at all
        assert found == []

    def test_request_id_everywhere(
        self, server: ServerProcess, observed: tuple[Samples, Samples, dict[str, str]]
    ) -> None:
        """Lines written inside a call carry that call's request id."""
        lines = _log_lines(server)
        in_calls = [
            line
            for line in lines
            if str(line.get("event", "")).startswith(("rpc.", "store.send", "auth.", "chat."))
        ]

        missing = [line["event"] for line in in_calls if "request_id" not in line]

        assert len(in_calls) > 10
        assert missing == []

    def test_json_lines(self, server: ServerProcess) -> None:
        """Without a terminal every line is one JSON object with a timestamp and level."""
        lines = _log_lines(server)

        assert all({"event", "level", "timestamp"} <= line.keys() for line in lines)
        assert len(lines) == len(server.log_text().splitlines())


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog and the root logger back after a test configures them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


def _fail_with_secret(note: str) -> None:
    secret_local = note  # noqa: F841 - a local a traceback with locals would print
    msg = "boom"
    raise RuntimeError(msg)


@pytest.mark.usefixtures("restore_logging")
class TestLogFormat:
    @pytest.mark.parametrize("log_format", ["json", "console"])
    def test_traceback_without_locals(self, log_format: str) -> None:
        """A logged traceback names the code but not the values of its variables."""
        stream = io.StringIO()
        configure_logging(log_format, "debug", stream)
        secret = uuid.uuid4().hex
        try:
            _fail_with_secret(secret)
        except RuntimeError:
            structlog.get_logger("test").exception("test.failed")

        output = stream.getvalue()

        assert "_fail_with_secret" in output
        assert secret not in output

    def test_bound_request_id(self) -> None:
        """A bound request id reaches library lines written through the standard library."""
        stream = io.StringIO()
        configure_logging("json", "info", stream)
        with structlog.contextvars.bound_contextvars(request_id="abc123"):
            logging.getLogger("chatview_store_pg").warning("store.something")

        line = json.loads(stream.getvalue().splitlines()[-1])

        assert line["request_id"] == "abc123"


class TestMetricsConfig:
    def test_off_by_default(self) -> None:
        """No metrics endpoint unless metrics_addr is set."""
        assert load_config(environ={}).metrics_addr == ""

    def test_bad_address(self) -> None:
        """A metrics_addr without a port is a configuration error naming the key."""
        with pytest.raises(ConfigError, match="metrics_addr"):
            load_config(environ={}, flags={"metrics_addr": "localhost"})
