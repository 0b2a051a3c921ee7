"""Run ChatView from a fresh checkout with nothing but Python 3.11 or newer.

    python3 dev.py test [NOX ARGS]   run the whole test suite (the CI set of nox sessions)
    python3 dev.py server [ARGS]     run chatview-server (embedded PostgreSQL by default)
    python3 dev.py cli [ARGS]        run the command-line client `chatview`
    python3 dev.py kivy [ARGS]       run the desktop and tablet app `chatview-kivy`
    python3 dev.py nox [NOX ARGS]    run any nox session, e.g. `-s bench-store`

The first run creates `.dev-tools/` with pinned versions of uv and nox; uv then makes
the workspace environment `.venv/` from the committed lock file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS_DIR = ROOT / ".dev-tools"
TOOL_REQUIREMENTS = ["uv==0.13.9", "nox==2026.10.20"]
COMMANDS = {"server": "chatview-server", "cli": "chatview", "kivy": "chatview-kivy"}


def _tools_bin() -> Path:
    return TOOLS_DIR / ("Scripts" if os.name == "nt" else "bin")


def _ensure_tools() -> None:
    stamp = TOOLS_DIR / "requirements.txt"
    expected = "\n".join(TOOL_REQUIREMENTS)
    if stamp.exists() and stamp.read_text() == expected:
        return
    print(f"dev.py: installing {', '.join(TOOL_REQUIREMENTS)} into {TOOLS_DIR.name}/", flush=True)
    venv.create(TOOLS_DIR, with_pip=True, clear=True)
    python = _tools_bin() / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *TOOL_REQUIREMENTS], check=True)
    stamp.write_text(expected)


def main(arguments: list[str]) -> int:
    if not arguments or arguments[0] not in {"test", "nox", *COMMANDS}:
        print(__doc__)
        return 2
    if sys.version_info < (3, 11):
        print(f"dev.py: Python 3.11 or newer is required, this is {sys.version.split()[0]}")
        return 2

    _ensure_tools()
    environment = dict(os.environ)
    environment["PATH"] = f"{_tools_bin()}{os.pathsep}{environment.get('PATH', '')}"
    environment.setdefault("UV_PYTHON", sys.executable)
    command, rest = arguments[0], arguments[1:]
    uv = str(_tools_bin() / "uv")

    if command in {"test", "nox"}:
        program = _tools_bin() / "nox"
        invocation = [str(program), *rest]
        os.chdir(ROOT)
    else:
        sync = [uv, "sync", "--frozen", "--all-packages", "--quiet"]
        subprocess.run(sync, check=True, cwd=ROOT, env=environment)
        scripts = ROOT / ".venv" / ("Scripts" if os.name == "nt" else "bin")
        program = scripts / COMMANDS[command]
        invocation = [str(program), *rest]

    # The command replaces this process, so signals sent to this process id (Ctrl+C,
    # SIGTERM from a service manager) reach it directly, and relative paths in its
    # arguments resolve against the caller's working directory.
    if os.name == "nt":
        return subprocess.run(invocation, env=environment, check=False).returncode
    os.execve(program, invocation, environment)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
