"""The tables, defined once. Alembic migrations must produce exactly this schema.

Invariants the store keeps inside its write transactions:

* ``conversations`` has one row per unordered pair of users, stored ordered
  (``user_low < user_high``); ``last_server_seq`` is the newest message's server_seq,
  so the next message takes ``last_server_seq + 1`` (no gap, no repeat).
* ``conversation_members`` has two rows per conversation, one per participant, with
  counters that make unread counts O(1):
  ``sent_count`` is how many messages that member sent, ``read_peer_count`` how many of
  the peer's messages are at or below that member's ``last_read_server_seq``. Unread
  for a member is ``peer.sent_count - member.read_peer_count``.
* ``messages.sender_ordinal`` is the n-th message of that sender in that conversation,
  so a read cursor placed in the middle finds its ``read_peer_count`` with one index
  probe.
* ``users.change_seq`` is a per-user counter bumped (under the row lock) by every
  transaction that changes one of the user's conversations, and copied into that
  user's ``conversation_members.change_seq``. The row lock makes counter order equal
  commit order, which is what `Store.list_changes` relies on.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "broadcasts",
    "challenges",
    "conversation_members",
    "conversations",
    "friendships",
    "messages",
    "metadata",
    "sessions",
    "users",
]

_NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=_NAMING_CONVENTION)

_TIMESTAMP = sa.DateTime(timezone=True)
_KEY_PATTERN = "'^[0-9a-f]{64}$'"


def _key_column(name: str, *, primary_key: bool = False, references: bool = True) -> sa.Column[str]:
    args: list[sa.ForeignKey] = []
    if references:
        args.append(sa.ForeignKey("users.public_key", ondelete="CASCADE"))
    return sa.Column(name, sa.Text, *args, primary_key=primary_key, nullable=False)


users = sa.Table(
    "users",
    metadata,
    _key_column("public_key", primary_key=True, references=False),
    sa.Column("role", sa.Text, nullable=False, server_default="user"),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
    sa.Column("change_seq", sa.BigInteger, nullable=False, server_default="0"),
    # Set once the user logs in with a client that reads sealed bodies; never cleared,
    # so a later login from an old client does not make senders fall back to plaintext.
    sa.Column("supports_sealed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint(f"public_key ~ {_KEY_PATTERN}", name="public_key_hex"),
    sa.CheckConstraint("role IN ('user', 'admin')", name="role_known"),
    sa.CheckConstraint("status IN ('active', 'banned')", name="status_known"),
    sa.Index(None, "created_at", "public_key"),
)

challenges = sa.Table(
    "challenges",
    metadata,
    _key_column("public_key", primary_key=True, references=False),
    sa.Column("challenge", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", _TIMESTAMP, nullable=False),
    sa.Index(None, "expires_at"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
    sa.Column("token_hash", sa.LargeBinary, nullable=False, unique=True),
    _key_column("public_key"),
    sa.Column("client_id", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", _TIMESTAMP, nullable=False),
    sa.Column("revoked_at", _TIMESTAMP, nullable=True),
    sa.Index(None, "public_key"),
    sa.Index(None, "expires_at"),
)

friendships = sa.Table(
    "friendships",
    metadata,
    _key_column("owner_key", primary_key=True),
    _key_column("friend_key", primary_key=True),
    sa.Column("alias", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("owner_key <> friend_key", name="not_self"),
    sa.Index(None, "friend_key"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
    _key_column("user_low"),
    _key_column("user_high"),
    sa.Column("last_server_seq", sa.BigInteger, nullable=False, server_default="0"),
    # No foreign key: messages reference conversations, and a cycle buys nothing here
    # because both rows are always written in the same transaction.
    sa.Column("last_message_id", sa.Uuid(as_uuid=False), nullable=True),
    sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("user_low", "user_high"),
    sa.CheckConstraint("user_low < user_high", name="pair_ordered"),
    sa.Index(None, "user_high"),
)

conversation_members = sa.Table(
    "conversation_members",
    metadata,
    sa.Column(
        "conversation_id",
        sa.BigInteger,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    _key_column("public_key", primary_key=True),
    _key_column("peer_key"),
    sa.Column("sent_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_read_server_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("read_peer_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("change_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.UniqueConstraint("public_key", "peer_key"),
    sa.Index(None, "public_key", "change_seq"),
    sa.Index(None, "peer_key"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
    sa.Column(
        "conversation_id",
        sa.BigInteger,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("server_seq", sa.BigInteger, nullable=False),
    _key_column("sender_key"),
    sa.Column("sender_ordinal", sa.BigInteger, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    # NULL when the client sent no idempotency key; NULLs never collide in the
    # unique constraint, so such sends are never deduplicated.
    sa.Column("client_message_id", sa.Text, nullable=True),
    sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
    # The end-to-end sealed body, stored unread; NULL for plaintext messages, whose
    # body is `text`. For sealed ones `text` holds the placeholder old clients show.
    sa.Column("sealed_body", sa.LargeBinary, nullable=True),
    sa.UniqueConstraint("conversation_id", "server_seq"),
    sa.UniqueConstraint("sender_key", "client_message_id"),
    sa.Index(None, "conversation_id", "sender_key", "server_seq"),
)

broadcasts = sa.Table(
    "broadcasts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
    _key_column("sender_key"),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", _TIMESTAMP, nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", _TIMESTAMP, nullable=True),
)
