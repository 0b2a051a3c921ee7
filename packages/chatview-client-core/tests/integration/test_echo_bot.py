"""The echo bot of the client guide runs against a real server and echoes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from chatview_client import MessageState, NewMessage
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from .conftest import ClientFactory

EXAMPLE = Path(__file__).parents[2] / "examples" / "echo_bot.py"


class TestEchoBot:
    async def test_echoes(
        self, server: ServerProcess, make_client: ClientFactory, tmp_path: Path
    ) -> None:
        """A message to the bot comes back with the same text."""
        environment = {
            **os.environ,
            "CHATVIEW_DATA_DIR": str(tmp_path / "bot"),
            "CHATVIEW_GRPC_TARGET": server.address,
            "CHATVIEW_PIN": "2468",
            "CHATVIEW_CONFIG": str(tmp_path / "none.yaml"),
        }
        (tmp_path / "none.yaml").write_text("{}\n", encoding="utf-8")
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLE),
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            assert bot.stdout is not None
            line = (await asyncio.wait_for(bot.stdout.readline(), 30)).decode()
            assert line.startswith("echo bot ")
            bot_key = line.split()[2]

            alice = await make_client(server, KeyPair.generate())
            events = alice.events()
            await alice.wait_online(20)
            await alice.send_message(bot_key, "echo, 回声 🦜")

            echoed = None
            async with asyncio.timeout(30):
                async for event in events:
                    if (
                        isinstance(event, NewMessage)
                        and event.message.state is MessageState.INCOMING
                    ):
                        echoed = event.message
                        break
            assert echoed is not None
            assert ("echo, 回声 🦜", bot_key) == (echoed.text, echoed.sender)
        finally:
            bot.terminate()
            await bot.wait()


class TestCtrlC:
    async def test_quiet(self, server: ServerProcess, tmp_path: Path) -> None:
        """Ctrl+C stops the bot with status 130 and no traceback."""
        (tmp_path / "none.yaml").write_text("{}\n", encoding="utf-8")
        environment = {
            **os.environ,
            "CHATVIEW_DATA_DIR": str(tmp_path / "bot"),
            "CHATVIEW_GRPC_TARGET": server.address,
            "CHATVIEW_PIN": "2468",
            "CHATVIEW_CONFIG": str(tmp_path / "none.yaml"),
        }
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLE),
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert bot.stdout is not None
            line = (await asyncio.wait_for(bot.stdout.readline(), 30)).decode()
            assert line.startswith("echo bot ")
            bot.send_signal(signal.SIGINT)
            _, errors = await asyncio.wait_for(bot.communicate(), 30)
        finally:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()

        assert 130 == bot.returncode
        assert "Traceback" not in errors.decode()


class TestGuide:
    def test_guides_quote_example(self) -> None:
        """Both client guides show the echo bot exactly as the tested file has it."""
        code = EXAMPLE.read_text(encoding="utf-8").rstrip()
        docs = Path(__file__).parents[4] / "docs"
        for name in ("client-guide.md", "client-guide.zh-CN.md"):
            guide = (docs / name).read_text(encoding="utf-8")
            assert f"```python\n{code}\n```" in guide, name
