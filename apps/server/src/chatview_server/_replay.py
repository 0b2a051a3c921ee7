"""Events that bring a device up to date: stored broadcasts and moved read cursors.

Broadcasts are stored before they are sent, so a device that was offline gets each
one when it next subscribes with ``broadcasts_after``. `BroadcastFilter` keeps a
stream from sending a broadcast twice when the stored copy and the live copy of the
same broadcast both reach it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, final

from chatview_proto import events_pb2
from chatview_store_pg import Broadcast, Store

from ._convert import format_timestamp
from ._status import invalid_argument

__all__ = [
    "MAX_BROADCAST_LIFETIME",
    "BroadcastFilter",
    "broadcast_event",
    "broadcast_expiry",
    "conversation_read_event",
    "stored_broadcasts",
]

# Ten years: long enough for "until further notice", short enough for a datetime.
MAX_BROADCAST_LIFETIME: Final = 10 * 365 * 24 * 3600
# The store's largest page of broadcasts.
_PAGE: Final = 1000


def broadcast_expiry(expires_in_seconds: int, now: datetime) -> datetime | None:
    """Return when a broadcast expires, or None for one that never does.

    Raises:
        RpcError: INVALID_ARGUMENT for a negative or absurdly long lifetime.
    """
    if expires_in_seconds == 0:
        return None
    if not 0 < expires_in_seconds <= MAX_BROADCAST_LIFETIME:
        raise invalid_argument(
            "expires_in_seconds",
            expires_in_seconds,
            f"expected 0 (never expires) or 1..{MAX_BROADCAST_LIFETIME} seconds",
        )
    return now + timedelta(seconds=expires_in_seconds)


def broadcast_event(broadcast: Broadcast) -> events_pb2.ServerEvent:
    """Return the ``system_broadcast`` event of a stored broadcast."""
    expires_at = broadcast.expires_at
    return events_pb2.ServerEvent(
        system_broadcast=events_pb2.SystemBroadcastEvent(
            text=broadcast.text,
            from_admin=broadcast.sender,
            id=broadcast.id,
            sent_at=format_timestamp(broadcast.created_at),
            expires_at=format_timestamp(expires_at) if expires_at is not None else "",
        )
    )


def conversation_read_event(peer: str, cursor: int) -> events_pb2.ServerEvent:
    """Return the ``conversation_read`` event for the reader's other devices."""
    return events_pb2.ServerEvent(
        conversation_read=events_pb2.ConversationReadEvent(
            peer_public_key=peer, last_read_server_seq=cursor
        )
    )


async def stored_broadcasts(store: Store, after_id: int, now: datetime) -> list[Broadcast]:
    """Return every unexpired broadcast with an id above `after_id`, oldest first."""
    found: list[Broadcast] = []
    while True:
        page = await store.list_broadcasts(after_id, now, limit=_PAGE)
        found.extend(page)
        if len(page) < _PAGE:
            return found
        after_id = page[-1].id


@final
class BroadcastFilter:
    """Lets each broadcast id through once per stream, and none at or below a floor.

    Ids seen are kept in a set rather than as a maximum: two admins broadcasting at
    once may publish in the other order than their ids, and neither may be lost.

    Args:
        floor: the newest broadcast id the device has seen; None for an old client,
            which gets every live broadcast as before.
    """

    def __init__(self, floor: int | None) -> None:
        self._floor = floor
        self._seen: set[int] = set()

    def admit(self, event: events_pb2.ServerEvent) -> bool:
        """Return True when `event` should be sent, and remember a sent broadcast."""
        if self._floor is None or event.WhichOneof("event") != "system_broadcast":
            return True
        broadcast_id = event.system_broadcast.id
        if broadcast_id <= self._floor or broadcast_id in self._seen:
            return False
        self._seen.add(broadcast_id)
        return True
