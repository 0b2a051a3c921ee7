"""Create the whole ChatView schema: users, challenges, sessions, friendships,
conversations, conversation members, messages and broadcasts.

Revision ID: 0001
Revises:
Create Date: 2026-12-04

Written by hand to match ``chatview_store_pg.metadata`` as of this revision; the
migration test compares the two. Later schema changes get new revisions and never
edit this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TIMESTAMP = sa.DateTime(timezone=True)


def _user_reference(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["users.public_key"],
        name=op.f(f"fk_{table}_{column}_users"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False, server_default="user"),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("change_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("public_key", name=op.f("pk_users")),
        sa.CheckConstraint("public_key ~ '^[0-9a-f]{64}$'", name=op.f("ck_users_public_key_hex")),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("ck_users_role_known")),
        sa.CheckConstraint("status IN ('active', 'banned')", name=op.f("ck_users_status_known")),
    )
    op.create_index(op.f("ix_users_created_at_public_key"), "users", ["created_at", "public_key"])

    op.create_table(
        "challenges",
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("challenge", sa.LargeBinary, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("public_key", name=op.f("pk_challenges")),
    )
    op.create_index(op.f("ix_challenges_expires_at"), "challenges", ["expires_at"])

    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("token_hash", sa.LargeBinary, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
        _user_reference("public_key", "sessions"),
    )
    op.create_index(op.f("ix_sessions_public_key"), "sessions", ["public_key"])
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"])

    op.create_table(
        "friendships",
        sa.Column("owner_key", sa.Text, nullable=False),
        sa.Column("friend_key", sa.Text, nullable=False),
        sa.Column("alias", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("owner_key", "friend_key", name=op.f("pk_friendships")),
        sa.CheckConstraint("owner_key <> friend_key", name=op.f("ck_friendships_not_self")),
        _user_reference("owner_key", "friendships"),
        _user_reference("friend_key", "friendships"),
    )
    op.create_index(op.f("ix_friendships_friend_key"), "friendships", ["friend_key"])

    op.create_table(
        "conversations",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), nullable=False),
        sa.Column("user_low", sa.Text, nullable=False),
        sa.Column("user_high", sa.Text, nullable=False),
        sa.Column("last_server_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_message_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint(
            "user_low", "user_high", name=op.f("uq_conversations_user_low_user_high")
        ),
        sa.CheckConstraint("user_low < user_high", name=op.f("ck_conversations_pair_ordered")),
        _user_reference("user_low", "conversations"),
        _user_reference("user_high", "conversations"),
    )
    op.create_index(op.f("ix_conversations_user_high"), "conversations", ["user_high"])

    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.BigInteger, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("peer_key", sa.Text, nullable=False),
        sa.Column("sent_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_read_server_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("read_peer_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("change_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint(
            "conversation_id", "public_key", name=op.f("pk_conversation_members")
        ),
        sa.UniqueConstraint(
            "public_key", "peer_key", name=op.f("uq_conversation_members_public_key_peer_key")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_members_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        _user_reference("public_key", "conversation_members"),
        _user_reference("peer_key", "conversation_members"),
    )
    op.create_index(
        op.f("ix_conversation_members_public_key_change_seq"),
        "conversation_members",
        ["public_key", "change_seq"],
    )
    op.create_index(op.f("ix_conversation_members_peer_key"), "conversation_members", ["peer_key"])

    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("conversation_id", sa.BigInteger, nullable=False),
        sa.Column("server_seq", sa.BigInteger, nullable=False),
        sa.Column("sender_key", sa.Text, nullable=False),
        sa.Column("sender_ordinal", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("client_message_id", sa.Text, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "conversation_id", "server_seq", name=op.f("uq_messages_conversation_id_server_seq")
        ),
        sa.UniqueConstraint(
            "sender_key",
            "client_message_id",
            name=op.f("uq_messages_sender_key_client_message_id"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        _user_reference("sender_key", "messages"),
    )
    op.create_index(
        op.f("ix_messages_conversation_id_sender_key_server_seq"),
        "messages",
        ["conversation_id", "sender_key", "server_seq"],
    )

    op.create_table(
        "broadcasts",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), nullable=False),
        sa.Column("sender_key", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", _TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        _user_reference("sender_key", "broadcasts"),
    )


def downgrade() -> None:
    # Reverse dependency order; dropping a table drops its indexes and constraints.
    for table in (
        "broadcasts",
        "messages",
        "conversation_members",
        "conversations",
        "friendships",
        "sessions",
        "challenges",
        "users",
    ):
        op.drop_table(table)
