"""Statements for sending, history pages, read cursors and the change feed.

`send_message` and `mark_read` run inside SERIALIZABLE transactions (see
`Database.write`). That keeps server_seq gapless and the unread counters consistent
under concurrent writers. Conflicts surface as SQLSTATE 40001, and the whole
transaction is then retried.

The idempotency lookup (`find_sent`) runs just before the send transaction, on the
same connection and under the sender's advisory lock, not inside it. Inside a
SERIALIZABLE transaction a lookup that finds nothing takes a predicate lock on a page of
the (sender, client_message_id) index, and every concurrent send inserts into that same
small set of pages, so nearly all concurrent sends then failed with 40001 (measured:
about 190 retries and several exhausted sends for 120 sends at concurrency 8). Outside
the transaction nothing is lost: the unique constraint still decides, and a twin that
commits in between makes the insert fail and the retry find it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ._accounts import user_not_found
from ._errors import IdempotencyConflictError
from ._ids import uuid7
from ._schema import conversation_members, conversations, messages, users
from ._values import ChangesPage, ConversationChange, HistoryPage, Message, SendResult

__all__ = [
    "SEND_RETRY_CONSTRAINTS",
    "find_sent",
    "get_history",
    "list_changes",
    "mark_read",
    "message_columns",
    "message_from_row",
    "send_message",
]

_log = structlog.get_logger("chatview_store_pg")

SEND_RETRY_CONSTRAINTS = (
    "uq_messages_sender_key_client_message_id",
    "uq_conversations_user_low_user_high",
)
"""Unique constraints a concurrent twin send can violate; the retry then reads its row.

The user row locks taken first normally turn such races into serialization failures;
these are the fallback.
"""


def _pair(first: str, second: str) -> tuple[str, str]:
    return (first, second) if first < second else (second, first)


def message_columns(table: sa.FromClause, prefix: str = "") -> list[sa.Label[Any]]:
    """Columns `message_from_row` needs, labelled with `prefix`."""
    return [
        table.c.id.label(prefix + "id"),
        table.c.sender_key.label(prefix + "sender_key"),
        table.c.text.label(prefix + "text"),
        table.c.created_at.label(prefix + "created_at"),
        table.c.server_seq.label(prefix + "server_seq"),
        table.c.client_message_id.label(prefix + "client_message_id"),
        table.c.sealed_body.label(prefix + "sealed_body"),
    ]


def message_from_row(row: Any, user_low: str, user_high: str, prefix: str = "") -> Message | None:
    """Build a Message from labelled columns; None when the (outer-joined) id is NULL."""
    values = row._mapping
    message_id = values[prefix + "id"]
    if message_id is None:
        return None
    sender = values[prefix + "sender_key"]
    return Message(
        id=str(message_id),
        sender=sender,
        receiver=user_high if sender == user_low else user_low,
        text=values[prefix + "text"],
        created_at=values[prefix + "created_at"],
        server_seq=values[prefix + "server_seq"],
        client_message_id=values[prefix + "client_message_id"] or "",
        sealed_body=_bytes_or_none(values[prefix + "sealed_body"]),
    )


def _bytes_or_none(value: bytes | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


async def _find_sent(
    connection: AsyncConnection, sender: str, client_message_id: str
) -> tuple[Message, str] | None:
    statement = (
        sa.select(*message_columns(messages), conversations.c.user_low, conversations.c.user_high)
        .join_from(messages, conversations, messages.c.conversation_id == conversations.c.id)
        .where(messages.c.sender_key == sender, messages.c.client_message_id == client_message_id)
    )
    row = (await connection.execute(statement)).first()
    if row is None:
        return None
    message = message_from_row(row, row.user_low, row.user_high)
    assert message is not None
    return message, message.receiver


async def _bump_change_counters(connection: AsyncConnection, *keys: str) -> dict[str, int]:
    """Increment the users' change counters; return the new values.

    The row lock taken here is held to commit, so a later writer for the same user
    waits and gets a larger number: counter order equals commit order per user.
    """
    statement = (
        sa.update(users)
        .where(users.c.public_key.in_(keys))
        .values(change_seq=users.c.change_seq + 1)
        .returning(users.c.public_key, users.c.change_seq)
    )
    counters = {row.public_key: row.change_seq for row in await connection.execute(statement)}
    for key in keys:
        if key not in counters:
            raise user_not_found(key)
    return counters


async def find_sent(
    connection: AsyncConnection,
    sender: str,
    receiver: str,
    text: str,
    client_message_id: str,
    sealed_body: bytes | None = None,
) -> SendResult | None:
    """Return the stored result of an earlier send with this key, or None.

    Raises:
        IdempotencyConflictError: the key was used for another receiver or text.
    """
    if not client_message_id:
        return None
    found = await _find_sent(connection, sender, client_message_id)
    if found is None:
        return None
    stored, stored_receiver = found
    if stored_receiver != receiver or stored.text != text or stored.sealed_body != sealed_body:
        _log.info("store.send.idempotency_conflict", server_seq=stored.server_seq)
        msg = (
            f"client_message_id {client_message_id!r} was already used by this sender "
            "for a different message; use a new client_message_id for a new message"
        )
        raise IdempotencyConflictError(msg)
    _log.debug("store.send.deduplicated", server_seq=stored.server_seq)
    return SendResult(message=stored, deduplicated=True)


async def send_message(
    connection: AsyncConnection,
    sender: str,
    receiver: str,
    text: str,
    client_message_id: str,
    sealed_body: bytes | None = None,
) -> SendResult:
    """Store a new message; `find_sent` has already ruled out a duplicate.

    Runs inside the SERIALIZABLE transaction. Should a twin with the same key commit
    between `find_sent` and here, the insert violates the unique (sender,
    client_message_id) constraint and the caller retries, finding the twin.
    """
    # 1. Lock both users and take their next change counter values.
    counters = await _bump_change_counters(connection, sender, receiver)

    # 2. Take the next server_seq: create the conversation at 1, or increment it.
    message_id = uuid7()
    user_low, user_high = _pair(sender, receiver)
    values = insert(conversations).values(
        user_low=user_low, user_high=user_high, last_server_seq=1, last_message_id=message_id
    )
    upsert = values.on_conflict_do_update(
        index_elements=[conversations.c.user_low, conversations.c.user_high],
        set_={
            "last_server_seq": conversations.c.last_server_seq + 1,
            "last_message_id": values.excluded.last_message_id,
        },
    ).returning(conversations.c.id, conversations.c.last_server_seq)
    conversation = (await connection.execute(upsert)).one()
    conversation_id, server_seq = conversation.id, conversation.last_server_seq

    # 3. Update the per-member counters; the sender's read cursor moves to this message.
    if server_seq == 1:
        sender_ordinal = 1
        await connection.execute(
            sa.insert(conversation_members),
            [
                {
                    "conversation_id": conversation_id,
                    "public_key": sender,
                    "peer_key": receiver,
                    "sent_count": 1,
                    "last_read_server_seq": 1,
                    "read_peer_count": 0,
                    "change_seq": counters[sender],
                },
                {
                    "conversation_id": conversation_id,
                    "public_key": receiver,
                    "peer_key": sender,
                    "sent_count": 0,
                    "last_read_server_seq": 0,
                    "read_peer_count": 0,
                    "change_seq": counters[receiver],
                },
            ],
        )
    else:
        sender_ordinal = await _advance_members(
            connection, conversation_id, sender, receiver, server_seq, counters
        )

    # 4. Insert the message itself.
    insert_message = (
        sa.insert(messages)
        .values(
            id=message_id,
            conversation_id=conversation_id,
            server_seq=server_seq,
            sender_key=sender,
            sender_ordinal=sender_ordinal,
            text=text,
            client_message_id=client_message_id or None,
            sealed_body=sealed_body,
        )
        .returning(messages.c.created_at)
    )
    created_at = (await connection.execute(insert_message)).scalar_one()
    message = Message(
        id=message_id,
        sender=sender,
        receiver=receiver,
        text=text,
        created_at=created_at,
        server_seq=server_seq,
        client_message_id=client_message_id,
        sealed_body=sealed_body,
    )
    return SendResult(message=message, deduplicated=False)


async def _advance_members(
    connection: AsyncConnection,
    conversation_id: int,
    sender: str,
    receiver: str,
    server_seq: int,
    counters: dict[str, int],
) -> int:
    """Count the message for the sender, mark all before it read, record both changes.

    Returns the sender's new sent_count, which is the message's sender_ordinal.
    """
    receiver_row = conversation_members.alias("receiver_row")
    receiver_sent = (
        sa.select(receiver_row.c.sent_count)
        .where(
            receiver_row.c.conversation_id == conversation_id,
            receiver_row.c.public_key == receiver,
        )
        .scalar_subquery()
    )
    advance_sender = (
        sa.update(conversation_members)
        .where(
            conversation_members.c.conversation_id == conversation_id,
            conversation_members.c.public_key == sender,
        )
        .values(
            sent_count=conversation_members.c.sent_count + 1,
            last_read_server_seq=server_seq,
            read_peer_count=receiver_sent,
            change_seq=counters[sender],
        )
        .returning(conversation_members.c.sent_count)
    )
    sender_ordinal: int = (await connection.execute(advance_sender)).scalar_one()
    await connection.execute(
        sa.update(conversation_members)
        .where(
            conversation_members.c.conversation_id == conversation_id,
            conversation_members.c.public_key == receiver,
        )
        .values(change_seq=counters[receiver])
    )
    return sender_ordinal


async def _conversation_of(
    connection: AsyncConnection, owner: str, peer: str
) -> tuple[int, str, str] | None:
    user_low, user_high = _pair(owner, peer)
    statement = sa.select(conversations.c.id).where(
        conversations.c.user_low == user_low, conversations.c.user_high == user_high
    )
    conversation_id = (await connection.execute(statement)).scalar_one_or_none()
    if conversation_id is None:
        return None
    return conversation_id, user_low, user_high


async def _require_users(connection: AsyncConnection, *keys: str) -> None:
    statement = sa.select(users.c.public_key).where(users.c.public_key.in_(keys))
    known = set((await connection.execute(statement)).scalars())
    for key in keys:
        if key not in known:
            raise user_not_found(key)


async def get_history(
    connection: AsyncConnection,
    owner: str,
    peer: str,
    cursor: int | None,
    limit: int,
    older: bool,
) -> HistoryPage:
    found = await _conversation_of(connection, owner, peer)
    if found is None:
        await _require_users(connection, owner, peer)
        return HistoryPage(messages=(), next_cursor="", has_more=False)
    conversation_id, user_low, user_high = found

    # One extra row shows whether another page exists. The index on
    # (conversation_id, server_seq) makes this a short range scan at any depth.
    statement = sa.select(*message_columns(messages)).where(
        messages.c.conversation_id == conversation_id
    )
    if older:
        if cursor is not None:
            statement = statement.where(messages.c.server_seq < cursor)
        statement = statement.order_by(messages.c.server_seq.desc())
    else:
        if cursor is not None:
            statement = statement.where(messages.c.server_seq > cursor)
        statement = statement.order_by(messages.c.server_seq)
    rows = list(await connection.execute(statement.limit(limit + 1)))

    has_more = len(rows) > limit
    page = [message_from_row(row, user_low, user_high) for row in rows[:limit]]
    found_messages = [message for message in page if message is not None]
    if older:
        found_messages.reverse()
    next_cursor = ""
    if has_more:
        edge = found_messages[0] if older else found_messages[-1]
        next_cursor = str(edge.server_seq)
    return HistoryPage(messages=tuple(found_messages), next_cursor=next_cursor, has_more=has_more)


async def mark_read(
    connection: AsyncConnection, owner: str, peer: str, last_read_server_seq: int
) -> int:
    mine = conversation_members.alias("mine")
    theirs = conversation_members.alias("theirs")
    statement = (
        sa.select(
            mine.c.conversation_id,
            mine.c.last_read_server_seq,
            conversations.c.last_server_seq,
            theirs.c.sent_count.label("peer_sent_count"),
        )
        .join_from(mine, conversations, conversations.c.id == mine.c.conversation_id)
        .join(
            theirs,
            sa.and_(
                theirs.c.conversation_id == mine.c.conversation_id,
                theirs.c.public_key == mine.c.peer_key,
            ),
        )
        .where(mine.c.public_key == owner, mine.c.peer_key == peer)
    )
    state = (await connection.execute(statement)).first()
    if state is None:
        await _require_users(connection, owner, peer)
        return 0

    # The cursor never passes the newest message and never moves backwards.
    newest = state.last_server_seq
    target = newest if last_read_server_seq <= 0 else min(last_read_server_seq, newest)
    if target <= state.last_read_server_seq:
        return int(state.last_read_server_seq)

    # How many of the peer's messages are at or below the cursor: the ordinal of the
    # peer's last message there, found with one probe of the (sender, seq) index.
    if target == newest:
        read_peer_count = state.peer_sent_count
    else:
        ordinal = (
            await connection.execute(
                sa.select(messages.c.sender_ordinal)
                .where(
                    messages.c.conversation_id == state.conversation_id,
                    messages.c.sender_key == peer,
                    messages.c.server_seq <= target,
                )
                .order_by(messages.c.server_seq.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        read_peer_count = ordinal or 0

    counters = await _bump_change_counters(connection, owner)
    await connection.execute(
        sa.update(conversation_members)
        .where(
            conversation_members.c.conversation_id == state.conversation_id,
            conversation_members.c.public_key == owner,
        )
        .values(
            last_read_server_seq=target,
            read_peer_count=read_peer_count,
            change_seq=counters[owner],
        )
    )
    return int(target)


async def list_changes(
    connection: AsyncConnection, owner: str, since: int, limit: int
) -> ChangesPage:
    mine = conversation_members.alias("mine")
    theirs = conversation_members.alias("theirs")
    last = messages.alias("last")
    # One statement, so the page comes from one snapshot.
    statement = (
        sa.select(
            mine.c.peer_key,
            mine.c.change_seq,
            mine.c.last_read_server_seq,
            (theirs.c.sent_count - mine.c.read_peer_count).label("unread"),
            theirs.c.last_read_server_seq.label("peer_last_read_server_seq"),
            conversations.c.last_server_seq,
            conversations.c.user_low,
            conversations.c.user_high,
            *message_columns(last, prefix="lm_"),
        )
        .join_from(mine, conversations, conversations.c.id == mine.c.conversation_id)
        .join(
            theirs,
            sa.and_(
                theirs.c.conversation_id == mine.c.conversation_id,
                theirs.c.public_key == mine.c.peer_key,
            ),
        )
        .outerjoin(last, last.c.id == conversations.c.last_message_id)
        .where(mine.c.public_key == owner, mine.c.change_seq > since)
        .order_by(mine.c.change_seq)
        .limit(limit + 1)
    )
    rows = list(await connection.execute(statement))
    has_more = len(rows) > limit
    changes = tuple(
        ConversationChange(
            peer_public_key=row.peer_key,
            change_seq=row.change_seq,
            last_server_seq=row.last_server_seq,
            last_read_server_seq=row.last_read_server_seq,
            peer_last_read_server_seq=row.peer_last_read_server_seq,
            unread=row.unread,
            last_message=message_from_row(row, row.user_low, row.user_high, prefix="lm_"),
        )
        for row in rows[:limit]
    )
    next_since = changes[-1].change_seq if changes else since
    return ChangesPage(changes=changes, next_since=next_since, has_more=has_more)
