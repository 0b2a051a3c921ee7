"""Users, login challenges, sessions and cleanup."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from chatview_store_pg import (
    CleanupResult,
    InvalidFieldError,
    Role,
    Store,
    UserCounts,
    UserNotFoundError,
    UserStatus,
)

from .support import UserFactory, key_of

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TestUsers:
    async def test_unknown_user(self, store: Store) -> None:
        """get_user returns None for a key that never logged in."""
        assert await store.get_user(key_of(1)) is None

    async def test_ensure_creates_user(self, store: Store) -> None:
        """The first ensure_user creates an active ordinary user."""
        user = await store.ensure_user(key_of(1))

        assert user.public_key == key_of(1)
        assert user.role is Role.USER
        assert user.status is UserStatus.ACTIVE
        assert user.created_at.tzinfo is not None
        assert await store.get_user(key_of(1)) == user

    async def test_ensure_is_idempotent(self, store: Store) -> None:
        """Later calls return the existing row unchanged, also concurrently."""
        first = await store.ensure_user(key_of(1))
        await store.set_role(key_of(1), Role.ADMIN)

        again = await asyncio.gather(*(store.ensure_user(key_of(1)) for _ in range(10)))

        assert {user.created_at for user in again} == {first.created_at}
        assert {user.role for user in again} == {Role.ADMIN}
        assert (await store.user_counts()).total == 1

    async def test_set_role(self, store: Store, make_users: UserFactory) -> None:
        """set_role returns the updated user."""
        (alice,) = await make_users(1)

        user = await store.set_role(alice, Role.ADMIN)

        assert user.role is Role.ADMIN
        assert Role.ADMIN.wire_value == 1
        assert Role.USER.wire_value == 0

    async def test_set_role_unknown(self, store: Store) -> None:
        """set_role on an unknown key is UserNotFoundError."""
        with pytest.raises(UserNotFoundError):
            await store.set_role(key_of(9), Role.ADMIN)

    async def test_ban_and_unban(self, store: Store, make_users: UserFactory) -> None:
        """set_user_status switches between BANNED and ACTIVE."""
        (alice,) = await make_users(1)

        banned = await store.set_user_status(alice, UserStatus.BANNED)
        active = await store.set_user_status(alice, UserStatus.ACTIVE)

        assert banned.is_banned
        assert not active.is_banned

    async def test_ban_unknown(self, store: Store) -> None:
        """Banning an unknown key is UserNotFoundError."""
        with pytest.raises(UserNotFoundError):
            await store.set_user_status(key_of(9), UserStatus.BANNED)

    async def test_counts(self, store: Store, make_users: UserFactory) -> None:
        """user_counts counts all users, banned ones and admins."""
        alice, bob, _carol = await make_users(3)
        await store.set_user_status(alice, UserStatus.BANNED)
        await store.set_role(bob, Role.ADMIN)

        assert await store.user_counts() == UserCounts(total=3, banned=1, admins=1)

    async def test_list_paging(self, store: Store, make_users: UserFactory) -> None:
        """list_users pages through every user once, in creation order."""
        keys = await make_users(5)

        pages = [await store.list_users(limit=2, offset=offset) for offset in (0, 2, 4)]

        assert [len(page) for page in pages] == [2, 2, 1]
        assert [user.public_key for page in pages for user in page] == keys


class TestChallenges:
    async def test_single_use(self, store: Store) -> None:
        """A challenge is returned once, then it is gone."""
        await store.put_challenge(key_of(1), b"c" * 32, NOW + timedelta(minutes=5))

        first = await store.consume_challenge(key_of(1), NOW)
        second = await store.consume_challenge(key_of(1), NOW)

        assert first == b"c" * 32
        assert second is None

    async def test_concurrent_consumers(self, store: Store) -> None:
        """Of many racing consumers exactly one gets the challenge."""
        await store.put_challenge(key_of(1), b"c" * 32, NOW + timedelta(minutes=5))

        results = await asyncio.gather(
            *(store.consume_challenge(key_of(1), NOW) for _ in range(10))
        )

        assert sorted(results, key=lambda r: r is None) == [b"c" * 32] + [None] * 9

    async def test_expired(self, store: Store) -> None:
        """An expired challenge is not returned, and it is deleted anyway."""
        await store.put_challenge(key_of(1), b"c" * 32, NOW)

        assert await store.consume_challenge(key_of(1), NOW) is None
        assert await store.delete_expired(NOW) == CleanupResult(challenges=0, sessions=0)

    async def test_replaced(self, store: Store) -> None:
        """A new challenge replaces the key's previous one."""
        await store.put_challenge(key_of(1), b"old", NOW + timedelta(minutes=5))
        await store.put_challenge(key_of(1), b"new", NOW + timedelta(minutes=5))

        assert await store.consume_challenge(key_of(1), NOW) == b"new"
        assert await store.consume_challenge(key_of(1), NOW) is None

    async def test_missing(self, store: Store) -> None:
        """A key that never asked for a challenge gets None."""
        assert await store.consume_challenge(key_of(1), NOW) is None

    async def test_does_not_create_user(self, store: Store) -> None:
        """Asking for a challenge does not create the user."""
        await store.put_challenge(key_of(1), b"c", NOW + timedelta(minutes=5))

        assert await store.get_user(key_of(1)) is None


class TestSessions:
    async def test_create_and_get(self, store: Store, make_users: UserFactory) -> None:
        """A created session is found by its token hash until it expires."""
        (alice,) = await make_users(1)

        created = await store.create_session(_hash("t1"), alice, "laptop", NOW + timedelta(hours=1))

        assert created.public_key == alice
        assert created.client_id == "laptop"
        assert created.revoked_at is None
        assert await store.get_session(_hash("t1"), NOW) == created
        assert await store.get_session(_hash("t2"), NOW) is None

    async def test_expiry(self, store: Store, make_users: UserFactory) -> None:
        """A session is not returned at or after its expiry time."""
        (alice,) = await make_users(1)
        await store.create_session(_hash("t1"), alice, "laptop", NOW + timedelta(hours=1))

        assert await store.get_session(_hash("t1"), NOW + timedelta(minutes=59)) is not None
        assert await store.get_session(_hash("t1"), NOW + timedelta(hours=1)) is None

    async def test_with_user(self, store: Store, make_users: UserFactory) -> None:
        """get_session_user returns the session and the user's current role and status."""
        (alice,) = await make_users(1)
        await store.create_session(_hash("t1"), alice, "laptop", NOW + timedelta(hours=1))
        await store.set_user_status(alice, UserStatus.BANNED)

        found = await store.get_session_user(_hash("t1"), NOW)

        assert found is not None
        assert found.session.public_key == alice
        assert found.user.status is UserStatus.BANNED
        assert await store.get_session_user(_hash("nope"), NOW) is None

    async def test_unknown_user(self, store: Store) -> None:
        """A session for a key without a user is UserNotFoundError."""
        with pytest.raises(UserNotFoundError):
            await store.create_session(_hash("t1"), key_of(9), "x", NOW + timedelta(hours=1))

    async def test_duplicate_hash(self, store: Store, make_users: UserFactory) -> None:
        """A token hash can only be used once."""
        (alice,) = await make_users(1)
        await store.create_session(_hash("t1"), alice, "a", NOW + timedelta(hours=1))

        with pytest.raises(InvalidFieldError, match="token hash already exists"):
            await store.create_session(_hash("t1"), alice, "b", NOW + timedelta(hours=1))

    async def test_revoke_one(self, store: Store, make_users: UserFactory) -> None:
        """Revoking a session hides it; revoking again reports False."""
        (alice,) = await make_users(1)
        await store.create_session(_hash("t1"), alice, "a", NOW + timedelta(hours=1))
        await store.create_session(_hash("t2"), alice, "b", NOW + timedelta(hours=1))

        assert await store.revoke_session(_hash("t1")) is True
        assert await store.revoke_session(_hash("t1")) is False
        assert await store.get_session(_hash("t1"), NOW) is None
        assert await store.get_session(_hash("t2"), NOW) is not None

    async def test_revoke_all(self, store: Store, make_users: UserFactory) -> None:
        """revoke_user_sessions revokes every session of that user only."""
        alice, bob = await make_users(2)
        for token in ("a1", "a2", "a3"):
            await store.create_session(_hash(token), alice, token, NOW + timedelta(hours=1))
        await store.create_session(_hash("b1"), bob, "b1", NOW + timedelta(hours=1))
        await store.revoke_session(_hash("a3"))

        revoked = await store.revoke_user_sessions(alice)

        assert revoked == 2
        assert await store.get_session(_hash("a1"), NOW) is None
        assert await store.get_session(_hash("b1"), NOW) is not None


class TestCleanup:
    async def test_deletes_expired(self, store: Store, make_users: UserFactory) -> None:
        """delete_expired removes expired challenges and expired or revoked sessions."""
        (alice,) = await make_users(1)
        await store.put_challenge(key_of(1), b"old", NOW - timedelta(seconds=1))
        await store.put_challenge(key_of(2), b"live", NOW + timedelta(minutes=5))
        await store.create_session(_hash("old"), alice, "a", NOW - timedelta(seconds=1))
        await store.create_session(_hash("revoked"), alice, "b", NOW + timedelta(hours=1))
        await store.create_session(_hash("live"), alice, "c", NOW + timedelta(hours=1))
        await store.revoke_session(_hash("revoked"))

        result = await store.delete_expired(NOW)

        assert result == CleanupResult(challenges=1, sessions=2)
        assert await store.consume_challenge(key_of(2), NOW) == b"live"
        assert await store.get_session(_hash("live"), NOW) is not None
        assert await store.delete_expired(NOW) == CleanupResult(challenges=0, sessions=0)
