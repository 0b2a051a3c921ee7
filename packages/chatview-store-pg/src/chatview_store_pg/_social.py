"""Statements for friend lists, presence audiences and system broadcasts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ._accounts import require_user
from ._messaging import message_columns, message_from_row
from ._schema import (
    broadcasts,
    conversation_members,
    conversations,
    friendships,
    messages,
    users,
)
from ._values import Broadcast, FriendEntry

__all__ = ["add_broadcast", "add_friend", "list_broadcasts", "list_followers", "list_friends"]


async def add_friend(connection: AsyncConnection, owner: str, friend: str, alias: str) -> None:
    await require_user(connection, owner)
    await require_user(connection, friend)
    statement = insert(friendships).values(owner_key=owner, friend_key=friend, alias=alias)
    statement = statement.on_conflict_do_update(
        index_elements=[friendships.c.owner_key, friendships.c.friend_key],
        set_={"alias": statement.excluded.alias},
    )
    await connection.execute(statement)


# XXX: no paging: a user with thousands of conversations gets them all in one list,
# because the wire's ListFriends has no cursor; test_friends.py covers small lists only.
async def list_friends(connection: AsyncConnection, owner: str) -> list[FriendEntry]:
    # The owner's list is the full outer join of "keys the owner added" with "peers
    # the owner has a conversation with". Unread comes from the two member rows'
    # counters and the last message from conversations.last_message_id, so each entry
    # costs a few index probes whatever the conversation length.
    added = (
        sa.select(friendships.c.friend_key.label("peer"), friendships.c.alias)
        .where(friendships.c.owner_key == owner)
        .subquery("added")
    )
    mine = (
        sa.select(
            conversation_members.c.peer_key.label("peer"),
            conversation_members.c.conversation_id,
            conversation_members.c.last_read_server_seq,
            conversation_members.c.read_peer_count,
        )
        .where(conversation_members.c.public_key == owner)
        .subquery("mine")
    )
    theirs = conversation_members.alias("theirs")
    last = messages.alias("last")
    peer = sa.func.coalesce(added.c.peer, mine.c.peer)
    statement = (
        sa.select(
            peer.label("peer"),
            sa.func.coalesce(added.c.alias, "").label("alias"),
            added.c.peer.is_not(None).label("added"),
            sa.func.coalesce(theirs.c.sent_count - mine.c.read_peer_count, 0).label("unread"),
            sa.func.coalesce(conversations.c.last_server_seq, 0).label("last_server_seq"),
            sa.func.coalesce(mine.c.last_read_server_seq, 0).label("last_read_server_seq"),
            conversations.c.user_low,
            conversations.c.user_high,
            sa.func.coalesce(users.c.supports_sealed, False).label("supports_sealed"),
            *message_columns(last, prefix="lm_"),
        )
        .select_from(added.join(mine, added.c.peer == mine.c.peer, full=True))
        .outerjoin(users, users.c.public_key == peer)
        .outerjoin(conversations, conversations.c.id == mine.c.conversation_id)
        .outerjoin(
            theirs,
            sa.and_(
                theirs.c.conversation_id == mine.c.conversation_id,
                theirs.c.public_key == mine.c.peer,
            ),
        )
        .outerjoin(last, last.c.id == conversations.c.last_message_id)
        .order_by(last.c.created_at.desc().nulls_last(), last.c.id.desc(), peer)
    )
    return [
        FriendEntry(
            public_key=row.peer,
            alias=row.alias,
            added=row.added,
            unread=row.unread,
            last_server_seq=row.last_server_seq,
            last_read_server_seq=row.last_read_server_seq,
            last_message=(
                None
                if row.user_low is None
                else message_from_row(row, row.user_low, row.user_high, prefix="lm_")
            ),
            supports_sealed=row.supports_sealed,
        )
        for row in await connection.execute(statement)
    ]


async def list_followers(connection: AsyncConnection, public_key: str) -> list[str]:
    added_by = sa.select(friendships.c.owner_key.label("key")).where(
        friendships.c.friend_key == public_key
    )
    talks_with = sa.select(conversation_members.c.public_key.label("key")).where(
        conversation_members.c.peer_key == public_key
    )
    union = sa.union(added_by, talks_with).subquery()
    statement = sa.select(union.c.key).order_by(union.c.key)
    return list((await connection.execute(statement)).scalars())


async def add_broadcast(
    connection: AsyncConnection, sender: str, text: str, expires_at: datetime | None
) -> Broadcast:
    await require_user(connection, sender)
    statement = (
        sa.insert(broadcasts)
        .values(sender_key=sender, text=text, expires_at=expires_at)
        .returning(broadcasts.c.id, broadcasts.c.created_at, broadcasts.c.expires_at)
    )
    row = (await connection.execute(statement)).one()
    return Broadcast(
        id=row.id, sender=sender, text=text, created_at=row.created_at, expires_at=row.expires_at
    )


async def list_broadcasts(
    connection: AsyncConnection, after_id: int, now: datetime, limit: int
) -> list[Broadcast]:
    statement = (
        sa.select(broadcasts)
        .where(
            broadcasts.c.id > after_id,
            sa.or_(broadcasts.c.expires_at.is_(None), broadcasts.c.expires_at > now),
        )
        .order_by(broadcasts.c.id)
        .limit(limit)
    )
    return [
        Broadcast(
            id=row.id,
            sender=row.sender_key,
            text=row.text,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )
        for row in await connection.execute(statement)
    ]
