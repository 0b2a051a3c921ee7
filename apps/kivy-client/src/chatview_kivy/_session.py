"""What the screens need from the client library, as one narrow interface.

``Session`` lists every call the app makes; ``ClientSession`` implements it
with ``chatview_client.ChatClient`` and is the only module that calls the
library, so a change there touches one file. Every method runs on the app's
asyncio loop (the Kivy thread); slow work (Argon2 key derivation, network)
is awaited, never run inline, so the window keeps drawing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from chatview_client import AdminOverview, Event, Friend, Message

__all__ = ["HistoryPage", "Session"]

HistoryPage = tuple[Sequence[Message], bool]
"""Messages of one page, oldest first, and whether older ones exist."""


class Session(Protocol):
    """The app's view of one identity on one server.

    Failures raise ``chatview_kivy._errors.SessionError``.
    """

    @property
    def has_identity(self) -> bool:
        """Whether a key file exists (so the app asks for the PIN, not for a new key)."""
        ...

    @property
    def public_key(self) -> str:
        """The unlocked identity's key (64 hex digits); empty while locked."""
        ...

    @property
    def is_admin(self) -> bool:
        """Whether the server made this identity an admin."""
        ...

    async def create_identity(self, pin: str) -> str:
        """Make a new key, store it under ``pin``, unlock it; return the public key."""
        ...

    async def import_identity(self, private_key_hex: str, pin: str) -> str:
        """Store an existing private key under ``pin``, unlock it; return the public key."""
        ...

    async def unlock(self, pin: str) -> str:
        """Open the key file with ``pin``; return the public key."""
        ...

    async def export_private_key(self, pin: str) -> str:
        """Return the private key as hex after checking ``pin`` again."""
        ...

    async def change_pin(self, old_pin: str, new_pin: str) -> None:
        """Store the key under ``new_pin``."""
        ...

    async def start(self) -> None:
        """Open the cache and start connecting; returns before the client is online.

        Events are buffered from here on, so ``events`` misses none.
        """
        ...

    async def close(self) -> None:
        """Disconnect and forget the unlocked key; safe to call more than once."""
        ...

    async def logout(self) -> None:
        """End the session on the server too (best effort), then ``close``."""
        ...

    def events(self) -> AsyncIterator[Event]:
        """Yield the client's events until ``close``."""
        ...

    async def friends(self) -> Sequence[Friend]:
        """Return the cached conversation list: contacts and people who wrote."""
        ...

    async def refresh_friends(self) -> Sequence[Friend]:
        """Return the conversation list from the server; the cached one when offline."""
        ...

    async def add_friend(self, public_key: str, alias: str) -> Friend:
        """Add a contact by key, with an optional alias."""
        ...

    async def history(self, peer: str, before_seq: int | None, limit: int) -> HistoryPage:
        """Return up to ``limit`` messages older than ``before_seq`` (None: the newest)."""
        ...

    async def send(self, peer: str, text: str) -> Message:
        """Queue a message; it arrives as pending and moves to sent or failed."""
        ...

    async def retry(self, client_message_id: str) -> None:
        """Queue a failed message again under the same id."""
        ...

    async def mark_read(self, peer: str, server_seq: int) -> None:
        """Move the read cursor of a conversation."""
        ...

    async def admin_overview(self) -> AdminOverview:
        """Return every account and the server's counters (admins only)."""
        ...

    async def set_banned(self, public_key: str, banned: bool) -> None:
        """Ban or unban an account (admins only)."""
        ...

    async def broadcast(self, text: str) -> None:
        """Send an announcement to everyone online (admins only)."""
        ...
