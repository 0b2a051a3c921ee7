"""Sealed bodies: stored unread, deduplicated by their bytes, and the capability mark."""

from __future__ import annotations

import pytest

from chatview_store_pg import (
    MAX_SEALED_BODY_BYTES,
    IdempotencyConflictError,
    InvalidFieldError,
    Store,
    UserNotFoundError,
)

from .support import UserFactory, key_of

PLACEHOLDER = "[Encrypted message]"
SEALED = b"\x01" + bytes(range(100))


class TestSealedSend:
    async def test_stored_as_given(self, store: Store, make_users: UserFactory) -> None:
        """The sealed bytes come back unchanged from send and from history."""
        alice, bob = await make_users(2)

        sent = await store.send_message(alice, bob, PLACEHOLDER, "k1", sealed_body=SEALED)
        page = await store.get_history(bob, alice)

        assert SEALED == sent.message.sealed_body
        assert [SEALED] == [message.sealed_body for message in page.messages]
        assert PLACEHOLDER == page.messages[0].text

    async def test_plaintext_has_none(self, store: Store, make_users: UserFactory) -> None:
        """A plaintext message has no sealed body."""
        alice, bob = await make_users(2)

        sent = await store.send_message(alice, bob, "hi", "k1")

        assert sent.message.sealed_body is None

    async def test_retry_deduplicated(self, store: Store, make_users: UserFactory) -> None:
        """A retry with the same bytes returns the stored message."""
        alice, bob = await make_users(2)
        first = await store.send_message(alice, bob, PLACEHOLDER, "k1", sealed_body=SEALED)

        again = await store.send_message(alice, bob, PLACEHOLDER, "k1", sealed_body=SEALED)

        assert again.deduplicated is True
        assert first.message == again.message

    async def test_other_bytes_conflict(self, store: Store, make_users: UserFactory) -> None:
        """The same key with other sealed bytes is an idempotency conflict."""
        alice, bob = await make_users(2)
        await store.send_message(alice, bob, PLACEHOLDER, "k1", sealed_body=SEALED)

        with pytest.raises(IdempotencyConflictError, match=r"^client_message_id 'k1'"):
            await store.send_message(alice, bob, PLACEHOLDER, "k1", sealed_body=SEALED + b"x")

    async def test_too_large(self, store: Store, make_users: UserFactory) -> None:
        """A body over the store's limit is refused."""
        alice, bob = await make_users(2)
        oversize = bytes(MAX_SEALED_BODY_BYTES + 1)

        with pytest.raises(InvalidFieldError, match=r"^sealed_body has 65537 bytes"):
            await store.send_message(alice, bob, PLACEHOLDER, "k1", sealed_body=oversize)

    async def test_last_message_carries_body(self, store: Store, make_users: UserFactory) -> None:
        """The contact list's last message holds the sealed bytes too."""
        alice, bob = await make_users(2)
        await store.send_message(alice, bob, PLACEHOLDER, "k1", sealed_body=SEALED)

        (entry,) = await store.list_friends(bob)

        assert entry.last_message is not None
        assert SEALED == entry.last_message.sealed_body


class TestSupportsSealed:
    async def test_default_false(self, store: Store, make_users: UserFactory) -> None:
        """A contact that never announced the capability is listed without it."""
        alice, bob = await make_users(2)
        await store.add_friend(alice, bob)

        (entry,) = await store.list_friends(alice)

        assert entry.supports_sealed is False

    async def test_set_once(self, store: Store, make_users: UserFactory) -> None:
        """The first mark changes the row and shows in contacts' lists; the second does not."""
        alice, bob = await make_users(2)
        await store.add_friend(alice, bob)

        changed = [await store.set_supports_sealed(bob), await store.set_supports_sealed(bob)]
        (entry,) = await store.list_friends(alice)

        assert [True, False] == changed
        assert entry.supports_sealed is True

    async def test_unknown_user(self, store: Store) -> None:
        """Marking a key without a user is UserNotFoundError."""
        with pytest.raises(UserNotFoundError):
            await store.set_supports_sealed(key_of(99))
