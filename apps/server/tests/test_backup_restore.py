"""The documented backup and restore, run once by tools/backup_restore_check.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatview_store_pg.testing import TemporaryPostgres

SCRIPT = Path(__file__).resolve().parents[3] / "tools" / "backup_restore_check.py"


@pytest.mark.skipif(not SCRIPT.exists(), reason="runs from the repository only")
class TestBackupRestore:
    def test_messages_survive(self, chatview_postgres: TemporaryPostgres) -> None:
        """Back up with pg_dump, drop and recreate the database, restore: history is back."""
        dsn = chatview_postgres.create_database()
        try:
            result = subprocess.run(
                [sys.executable, str(SCRIPT), "--dsn", dsn],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        finally:
            chatview_postgres.drop_database(dsn)

        assert result.returncode == 0, result.stdout + result.stderr
        assert "after restore: 5 of 5 found" in result.stdout
