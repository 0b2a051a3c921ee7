"""Friend lists, presence audiences and broadcasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatview_store_pg import InvalidCursorError, Store, UserNotFoundError

from .support import UserFactory, key_of


class TestAddFriend:
    async def test_one_directional(self, store: Store, make_users: UserFactory) -> None:
        """Adding puts the friend in the owner's list only."""
        alice, bob = await make_users(2)

        await store.add_friend(alice, bob, "Bob")

        (entry,) = await store.list_friends(alice)
        assert (entry.public_key, entry.alias, entry.added) == (bob, "Bob", True)
        assert (entry.unread, entry.last_server_seq, entry.last_message) == (0, 0, None)
        assert await store.list_friends(bob) == []

    async def test_readd_updates_alias(self, store: Store, make_users: UserFactory) -> None:
        """Adding again changes the alias and keeps one entry."""
        alice, bob = await make_users(2)
        await store.add_friend(alice, bob, "Bob")

        await store.add_friend(alice, bob, "鲍勃")

        assert [(e.public_key, e.alias) for e in await store.list_friends(alice)] == [(bob, "鲍勃")]

    async def test_unknown_friend(self, store: Store, make_users: UserFactory) -> None:
        """Adding a key that never logged in is UserNotFoundError."""
        (alice,) = await make_users(1)

        with pytest.raises(UserNotFoundError, match=key_of(99)):
            await store.add_friend(alice, key_of(99))


class TestListFriends:
    async def test_stranger_visible(self, store: Store, make_users: UserFactory) -> None:
        """Someone who wrote without being added appears with added=False."""
        alice, bob = await make_users(2)

        await store.send_message(bob, alice, "hello?", "b1")

        (entry,) = await store.list_friends(alice)
        assert (entry.public_key, entry.alias, entry.added) == (bob, "", False)
        assert entry.unread == 1
        assert entry.last_message is not None
        assert entry.last_message.text == "hello?"

    async def test_added_and_talking(self, store: Store, make_users: UserFactory) -> None:
        """A friend with a conversation is one entry carrying alias and counters."""
        alice, bob = await make_users(2)
        await store.add_friend(alice, bob, "Bob")
        await store.send_message(bob, alice, "1", "b1")
        await store.send_message(bob, alice, "2", "b2")

        (entry,) = await store.list_friends(alice)

        assert (entry.alias, entry.added, entry.unread) == ("Bob", True, 2)
        assert (entry.last_server_seq, entry.last_read_server_seq) == (2, 0)

    async def test_order(self, store: Store, make_users: UserFactory) -> None:
        """Newest conversation first, then friends without messages by key."""
        alice, bob, carol, dave, erin = await make_users(5)
        await store.add_friend(alice, erin)
        await store.add_friend(alice, dave)
        await store.send_message(bob, alice, "old", "b1")
        await store.send_message(carol, alice, "new", "c1")

        order = [entry.public_key for entry in await store.list_friends(alice)]

        assert order == [carol, bob, dave, erin]

    async def test_last_message_receiver(self, store: Store, make_users: UserFactory) -> None:
        """The last message names sender and receiver correctly from either side."""
        alice, bob = await make_users(2)
        await store.send_message(alice, bob, "hi", "a1")

        (entry,) = await store.list_friends(bob)

        assert entry.last_message is not None
        assert (entry.last_message.sender, entry.last_message.receiver) == (alice, bob)
        assert entry.last_message.peer_of(bob) == alice


class TestFollowers:
    async def test_added_by_and_talking(self, store: Store, make_users: UserFactory) -> None:
        """Followers are those who added the key and those who talk with it."""
        alice, bob, carol, dave = await make_users(4)
        await store.add_friend(bob, alice)
        await store.send_message(alice, carol, "hi", "a1")
        await store.add_friend(alice, dave)

        assert await store.list_followers(alice) == sorted([bob, carol])

    async def test_no_duplicates(self, store: Store, make_users: UserFactory) -> None:
        """A follower that both added and talks is listed once."""
        alice, bob = await make_users(2)
        await store.add_friend(bob, alice)
        await store.send_message(bob, alice, "hi", "b1")

        assert await store.list_followers(alice) == [bob]


class TestBroadcasts:
    async def test_catch_up(self, store: Store, make_users: UserFactory) -> None:
        """Broadcasts after the last seen id are listed oldest first."""
        (admin,) = await make_users(1)
        now = datetime.now(UTC)
        first = await store.add_broadcast(admin, "系统维护通知")
        second = await store.add_broadcast(admin, "维护已完成")

        everything = await store.list_broadcasts(0, now)
        newer = await store.list_broadcasts(first.id, now)

        assert [b.text for b in everything] == ["系统维护通知", "维护已完成"]
        assert newer == [second]

    async def test_expired_hidden(self, store: Store, make_users: UserFactory) -> None:
        """A broadcast past its expiry is not listed."""
        (admin,) = await make_users(1)
        now = datetime.now(UTC)
        await store.add_broadcast(admin, "short", now + timedelta(minutes=1))

        assert len(await store.list_broadcasts(0, now)) == 1
        assert await store.list_broadcasts(0, now + timedelta(minutes=2)) == []

    async def test_negative_after(self, store: Store) -> None:
        """A negative after_id is InvalidCursorError."""
        with pytest.raises(InvalidCursorError):
            await store.list_broadcasts(-1, datetime.now(UTC))
