"""The CLI's behaviour without a server: identities, usage errors and exit statuses."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner, Result

from chatview_cli import ExitStatus, cli, exit_status_for
from chatview_client import (
    ConfigError,
    ConnectionFailedError,
    InvalidMessageError,
    NotFoundError,
    PermissionDeniedError,
    SessionEndedError,
    UnauthenticatedError,
    rpc_error_from,
)
from chatview_identity import KdfLimits, KeyPair


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seal key files with the cheapest Argon2id limits; these tests are not about them."""
    monkeypatch.setattr(KdfLimits, "interactive", classmethod(lambda cls: cls.insecure_minimum()))


def run(data_dir: Path, *args: str, pin: str | None = "1234", stdin: str | None = None) -> Result:
    env = {"CHATVIEW_PIN": pin} if pin is not None else {}
    env["CHATVIEW_CONFIG"] = ""
    return CliRunner().invoke(
        cli, ["--data-dir", str(data_dir), *args], env=env, input=stdin, catch_exceptions=False
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestIdentity:
    def test_create_then_show(self, tmp_path: Path) -> None:
        """A created identity shows the same key, without a PIN."""
        created = run(tmp_path, "id", "create")
        shown = run(tmp_path, "id", "show", pin=None)

        assert (0, 0) == (created.exit_code, shown.exit_code)
        assert created.output == shown.output

    def test_create_json(self, tmp_path: Path) -> None:
        """--json prints the key as JSON."""
        result = run(tmp_path, "--json", "id", "create")

        assert 64 == len(json.loads(result.output)["public_key"])

    def test_create_twice_refused(self, tmp_path: Path) -> None:
        """A second create does not overwrite the identity."""
        run(tmp_path, "id", "create")

        assert ExitStatus.AUTH == run(tmp_path, "id", "create").exit_code

    def test_import_export(self, tmp_path: Path) -> None:
        """An imported key exports back the same and shows its public key."""
        keypair = KeyPair.generate()
        imported = run(tmp_path, "id", "import", stdin=keypair.seed_hex() + "\n")
        exported = run(tmp_path, "id", "export")

        assert keypair.public_key.hex + "\n" == imported.output
        assert keypair.seed_hex() in exported.output

    def test_wrong_pin(self, tmp_path: Path) -> None:
        """A wrong PIN exits with the auth status and one error line."""
        run(tmp_path, "id", "create")
        result = run(tmp_path, "id", "export", pin="9999")

        assert ExitStatus.AUTH == result.exit_code
        assert result.output.startswith("chatview: error: wrong PIN")
        assert 1 == len(result.output.strip().splitlines())

    def test_change_pin(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """After change-pin the new PIN opens the identity and the old one does not."""
        run(tmp_path, "id", "create")
        monkeypatch.setenv("CHATVIEW_NEW_PIN", "5678")
        changed = run(tmp_path, "id", "change-pin")
        monkeypatch.delenv("CHATVIEW_NEW_PIN")

        assert 0 == changed.exit_code
        assert 0 == run(tmp_path, "id", "export", pin="5678").exit_code
        assert ExitStatus.AUTH == run(tmp_path, "id", "export").exit_code

    def test_pin_file(self, tmp_path: Path) -> None:
        """--pin-file supplies the PIN for scripts."""
        pin_file = tmp_path / "pin"
        pin_file.write_text("4321\n", encoding="utf-8")
        run(tmp_path, "--pin-file", str(pin_file), "id", "create", pin=None)

        result = run(tmp_path, "--pin-file", str(pin_file), "id", "export", pin=None)
        assert 0 == result.exit_code

    def test_no_identity(self, tmp_path: Path) -> None:
        """Commands that need an identity explain how to make one."""
        result = run(tmp_path, "login")

        assert ExitStatus.AUTH == result.exit_code
        assert "chatview id create" in result.output

    def test_no_identity_text(self, tmp_path: Path) -> None:
        """The error is one sentence naming the key file once, without an errno."""
        key_file = str(tmp_path / "identity.key")

        output = run(tmp_path, "id", "export").output

        assert "[Errno" not in output
        assert (1, 1) == (output.count(key_file), len(output.splitlines()))

    def test_exists_text(self, tmp_path: Path) -> None:
        """Creating over an identity names the file and the --force option."""
        run(tmp_path, "id", "create")

        output = run(tmp_path, "id", "create").output

        assert "[Errno" not in output
        assert "--force" in output
        assert 1 == output.count(str(tmp_path / "identity.key"))


class TestUsage:
    def test_unknown_option(self, tmp_path: Path) -> None:
        """An unknown option is a usage error."""
        assert ExitStatus.USAGE == run(tmp_path, "--bogus").exit_code

    def test_bad_key(self, tmp_path: Path) -> None:
        """A malformed key is a usage error, before any connection."""
        run(tmp_path, "id", "create")
        result = run(tmp_path, "--server", f"127.0.0.1:{closed_port()}", "send", "xyz", "hi")

        assert ExitStatus.USAGE == result.exit_code

    def test_bad_timeout(self, tmp_path: Path) -> None:
        """An unreadable duration is a usage error naming the value."""
        run(tmp_path, "id", "create")
        result = run(tmp_path, "--timeout", "soon", "login")

        assert ExitStatus.USAGE == result.exit_code
        assert "'soon'" in result.output


class TestNetwork:
    def test_login_unreachable(self, tmp_path: Path) -> None:
        """No server at the address: the network status."""
        run(tmp_path, "id", "create")
        result = run(tmp_path, "--server", f"127.0.0.1:{closed_port()}", "--timeout", "1s", "login")

        assert ExitStatus.NETWORK == result.exit_code
        assert result.output.startswith("chatview: error: could not reach")

    def test_send_unreachable_queues(self, tmp_path: Path) -> None:
        """Unreachable, send keeps the message in the outbox and reports it."""
        run(tmp_path, "id", "create")
        result = run(
            tmp_path,
            "--server",
            f"127.0.0.1:{closed_port()}",
            "--timeout",
            "0.5s",
            "send",
            KeyPair.generate().public_key.hex,
            "later",
        )

        assert ExitStatus.NETWORK == result.exit_code
        assert "stays in the outbox" in result.output


def _aio(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x")


class TestExitStatusFor:
    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (ConfigError("x"), ExitStatus.USAGE),
            (InvalidMessageError("x"), ExitStatus.USAGE),
            (UnauthenticatedError("x"), ExitStatus.AUTH),
            (SessionEndedError("x", reason="account_banned"), ExitStatus.AUTH),
            (ConnectionFailedError("x"), ExitStatus.NETWORK),
            (rpc_error_from(_aio(grpc.StatusCode.UNAVAILABLE)), ExitStatus.NETWORK),
            (rpc_error_from(_aio(grpc.StatusCode.DEADLINE_EXCEEDED)), ExitStatus.NETWORK),
            (NotFoundError("x"), ExitStatus.REFUSED),
            (PermissionDeniedError("x"), ExitStatus.REFUSED),
            (RuntimeError("x"), ExitStatus.OTHER),
        ],
    )
    def test_status(self, error: Exception, status: ExitStatus) -> None:
        """Each kind of failure has its own exit status."""
        assert status == exit_status_for(error)
