"""Bad arguments raise typed errors before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatview_store_pg import (
    MAX_TEXT_LENGTH,
    IdempotencyConflictError,
    InvalidCursorError,
    InvalidDirectionError,
    InvalidFieldError,
    InvalidLimitError,
    InvalidPublicKeyError,
    InvalidTextError,
    InvalidValueError,
    SelfTargetError,
    Store,
    UserNotFoundError,
)

from .support import UserFactory, key_of

RFC8032_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

BAD_KEYS: list[Any] = [
    "",
    RFC8032_KEY.upper(),
    RFC8032_KEY[:-2],
    RFC8032_KEY + "00",
    " " + RFC8032_KEY,
    RFC8032_KEY + "\n",
    "0x" + RFC8032_KEY[2:],
    "g" + RFC8032_KEY[1:],
    "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    bytes.fromhex(RFC8032_KEY),
    None,
]


class TestPublicKeys:
    @pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
    async def test_non_canonical_rejected(self, store: Store, key: Any) -> None:
        """Anything but 64 lowercase hex characters is InvalidPublicKeyError."""
        with pytest.raises(InvalidPublicKeyError, match="is not 64 lowercase hex characters"):
            await store.ensure_user(key)

    async def test_rejection_writes_nothing(self, store: Store) -> None:
        """A rejected key creates no user."""
        with pytest.raises(InvalidPublicKeyError):
            await store.ensure_user(RFC8032_KEY.upper())

        assert (await store.user_counts()).total == 0

    async def test_is_a_value_error(self, store: Store) -> None:
        """Key errors are ValueErrors, so generic handlers still catch them."""
        with pytest.raises(ValueError, match="canonicalize"):
            await store.get_user("nope")


class TestSendArguments:
    @pytest.mark.parametrize(
        "text",
        ["", " ", "\n\t ", "\u3000", "a\x00b", "bad \ud83d end", "x" * (MAX_TEXT_LENGTH + 1)],
        ids=["empty", "space", "blank", "ideographic-space", "nul", "surrogate", "too-long"],
    )
    async def test_bad_text(self, store: Store, make_users: UserFactory, text: str) -> None:
        """Empty, blank, NUL, lone-surrogate and over-long texts are InvalidTextError."""
        alice, bob = await make_users(2)

        with pytest.raises(InvalidTextError, match=r"^message text"):
            await store.send_message(alice, bob, text, "k1")

        assert (await store.get_history(alice, bob)).messages == ()

    @pytest.mark.parametrize("text", ["中" * MAX_TEXT_LENGTH, "😀" * MAX_TEXT_LENGTH])
    async def test_limit_counts_code_points(
        self, store: Store, make_users: UserFactory, text: str
    ) -> None:
        """MAX_TEXT_LENGTH wide characters are accepted and stored unchanged."""
        alice, bob = await make_users(2)

        result = await store.send_message(alice, bob, text, "k1")

        assert (await store.get_history(bob, alice)).messages[0].text == text
        assert result.message.text == text

    async def test_unknown_receiver(self, store: Store, make_users: UserFactory) -> None:
        """A receiver that never logged in is UserNotFoundError naming that key."""
        (alice,) = await make_users(1)
        stranger = key_of(999)

        with pytest.raises(UserNotFoundError, match=f"^no user has public key {stranger}"):
            await store.send_message(alice, stranger, "hi", "k1")

    async def test_unknown_sender(self, store: Store, make_users: UserFactory) -> None:
        """A sender that never logged in is UserNotFoundError."""
        (bob,) = await make_users(1)

        with pytest.raises(UserNotFoundError):
            await store.send_message(key_of(999), bob, "hi", "k1")

    async def test_self_message(self, store: Store, make_users: UserFactory) -> None:
        """Messaging yourself is SelfTargetError."""
        (alice,) = await make_users(1)

        with pytest.raises(SelfTargetError, match=r"^cannot send a message to yourself"):
            await store.send_message(alice, alice, "hi", "k1")

    async def test_long_client_message_id(self, store: Store, make_users: UserFactory) -> None:
        """An idempotency key over 200 characters is InvalidFieldError."""
        alice, bob = await make_users(2)

        with pytest.raises(InvalidFieldError, match=r"^client_message_id has 201 characters"):
            await store.send_message(alice, bob, "hi", "k" * 201)


class TestIdempotencyConflict:
    async def test_other_text(self, store: Store, make_users: UserFactory) -> None:
        """Reusing a key for another text raises and writes nothing."""
        alice, bob = await make_users(2)
        await store.send_message(alice, bob, "first", "k1")
        changes_before = await store.list_changes(bob)

        with pytest.raises(IdempotencyConflictError, match=r"^client_message_id 'k1' was already"):
            await store.send_message(alice, bob, "second", "k1")

        page = await store.get_history(alice, bob)
        assert [m.text for m in page.messages] == ["first"]
        assert await store.list_changes(bob) == changes_before

    async def test_other_receiver(self, store: Store, make_users: UserFactory) -> None:
        """Reusing a key for another receiver raises and creates no conversation."""
        alice, bob, carol = await make_users(3)
        await store.send_message(alice, bob, "hello", "k1")

        with pytest.raises(IdempotencyConflictError):
            await store.send_message(alice, carol, "hello", "k1")

        assert [f.public_key for f in await store.list_friends(carol)] == []

    async def test_same_key_other_sender(self, store: Store, make_users: UserFactory) -> None:
        """Keys are per sender: another sender may use the same key."""
        alice, bob = await make_users(2)
        await store.send_message(alice, bob, "hello", "k1")

        result = await store.send_message(bob, alice, "hello", "k1")

        assert result.deduplicated is False
        assert result.message.server_seq == 2


class TestHistoryArguments:
    @pytest.mark.parametrize("limit", [-1, 101, 10**9])
    async def test_limit_out_of_range(
        self, store: Store, make_users: UserFactory, limit: int
    ) -> None:
        """Negative limits and limits over 100 are InvalidLimitError, not clamped."""
        alice, bob = await make_users(2)

        with pytest.raises(InvalidLimitError, match=rf"^limit {limit} is out of range"):
            await store.get_history(alice, bob, limit=limit)

    @pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", " 3", "3 ", "+3", "0x10", "9" * 20])
    async def test_cursor_not_a_number(
        self, store: Store, make_users: UserFactory, cursor: str
    ) -> None:
        """A cursor that is not a non-negative decimal server_seq is InvalidCursorError."""
        alice, bob = await make_users(2)

        with pytest.raises(InvalidCursorError, match=r"^history cursor"):
            await store.get_history(alice, bob, cursor=cursor)

    @pytest.mark.parametrize("direction", ["up", "OLDER", "Newer", " older", "before"])
    async def test_bad_direction(
        self, store: Store, make_users: UserFactory, direction: str
    ) -> None:
        """Only "older", "newer" and "" are directions."""
        alice, bob = await make_users(2)

        with pytest.raises(InvalidDirectionError, match=r"^history direction"):
            await store.get_history(alice, bob, direction=direction)

    async def test_unknown_peer(self, store: Store, make_users: UserFactory) -> None:
        """History with a key that has no user is UserNotFoundError."""
        (alice,) = await make_users(1)

        with pytest.raises(UserNotFoundError):
            await store.get_history(alice, key_of(999))

    async def test_own_history(self, store: Store, make_users: UserFactory) -> None:
        """History with yourself is SelfTargetError."""
        (alice,) = await make_users(1)

        with pytest.raises(SelfTargetError):
            await store.get_history(alice, alice)


class TestOtherArguments:
    async def test_self_friend(self, store: Store, make_users: UserFactory) -> None:
        """Adding yourself is SelfTargetError, also an InvalidValueError."""
        (alice,) = await make_users(1)

        with pytest.raises(SelfTargetError, match=r"^cannot add yourself"):
            await store.add_friend(alice, alice, "me")
        with pytest.raises(InvalidValueError):
            await store.add_friend(alice, alice)

    async def test_long_alias(self, store: Store, make_users: UserFactory) -> None:
        """An alias over 100 characters is InvalidFieldError."""
        alice, bob = await make_users(2)

        with pytest.raises(InvalidFieldError, match=r"^alias has 101 characters"):
            await store.add_friend(alice, bob, "a" * 101)

    async def test_naive_datetime(self, store: Store) -> None:
        """A datetime without a timezone is InvalidFieldError."""
        naive = datetime(2030, 1, 1)

        with pytest.raises(InvalidFieldError, match=r"^expires_at must be a timezone-aware"):
            await store.put_challenge(RFC8032_KEY, b"x" * 32, naive)

    @pytest.mark.parametrize("challenge", [b"", b"x" * 1025])
    async def test_challenge_size(self, store: Store, challenge: bytes) -> None:
        """A challenge must be 1..1024 bytes."""
        expires = datetime.now(UTC) + timedelta(minutes=5)

        with pytest.raises(InvalidFieldError, match=r"^challenge has"):
            await store.put_challenge(RFC8032_KEY, challenge, expires)

    @pytest.mark.parametrize("limit", [-1, 1001])
    async def test_list_users_limit(self, store: Store, limit: int) -> None:
        """list_users takes 1..1000 users per page."""
        with pytest.raises(InvalidLimitError):
            await store.list_users(limit=limit)

    async def test_list_users_offset(self, store: Store) -> None:
        """A negative offset is InvalidLimitError."""
        with pytest.raises(InvalidLimitError, match=r"^offset -1"):
            await store.list_users(offset=-1)

    async def test_changes_since_negative(self, store: Store, make_users: UserFactory) -> None:
        """A negative change counter is InvalidCursorError."""
        (alice,) = await make_users(1)

        with pytest.raises(InvalidCursorError, match=r"^since -1"):
            await store.list_changes(alice, since=-1)

    async def test_changes_limit(self, store: Store, make_users: UserFactory) -> None:
        """list_changes takes 1..1000 entries per page."""
        (alice,) = await make_users(1)

        with pytest.raises(InvalidLimitError):
            await store.list_changes(alice, limit=1001)

    async def test_bad_dsn(self) -> None:
        """A DSN for another database system is InvalidFieldError."""
        from chatview_store_pg import open_store

        with pytest.raises(InvalidFieldError, match=r"^database DSN scheme 'mysql'"):
            await open_store("mysql://root@localhost/chat")
