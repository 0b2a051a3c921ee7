"""chatview_cli: the ``chatview`` command-line client, built on chatview_client only.

Exit statuses are listed in `ExitStatus`: 0 ok, 1 other, 2 usage, 3 auth or identity,
4 network, 5 server refusal.
"""

from ._exit import ExitStatus, exit_status_for
from ._main import cli, main

__version__ = "0.1.0"

__all__ = ["ExitStatus", "cli", "exit_status_for", "main"]
