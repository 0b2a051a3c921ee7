"""End-to-end sealed message bodies: ``messages.sealed_body`` and ``users.supports_sealed``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Both are additions: existing rows get NULL (a plaintext message) and false (no client
of that user has announced sealed bodies yet). Downgrading drops the columns, and with
them the sealed bodies; those messages keep their placeholder text.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("sealed_body", sa.LargeBinary, nullable=True))
    op.add_column(
        "users",
        sa.Column("supports_sealed", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("users", "supports_sealed")
    op.drop_column("messages", "sealed_body")
