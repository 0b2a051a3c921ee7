"""Sending, history pages, read cursors and the change feed."""

from __future__ import annotations

import uuid

import pytest

from chatview_store_pg import Store

from .support import UserFactory


async def _send_many(store: Store, sender: str, receiver: str, count: int) -> None:
    for number in range(count):
        await store.send_message(sender, receiver, f"m{number}", f"{sender[-4:]}-{number}")


class TestSend:
    async def test_first_message(self, store: Store, make_users: UserFactory) -> None:
        """The first message of a conversation gets server_seq 1 and a UUIDv7 id."""
        alice, bob = await make_users(2)

        result = await store.send_message(alice, bob, "明天见 see you tomorrow", "k1")

        assert result.deduplicated is False
        assert result.message.server_seq == 1
        assert result.message.sender == alice
        assert result.message.receiver == bob
        assert result.message.text == "明天见 see you tomorrow"
        assert result.message.client_message_id == "k1"
        assert uuid.UUID(result.message.id).version == 7

    async def test_retry_returns_stored(self, store: Store, make_users: UserFactory) -> None:
        """A resend with the same key returns the same message, and uses up no seq."""
        alice, bob = await make_users(2)
        first = await store.send_message(alice, bob, "hello", "k1")

        again = await store.send_message(alice, bob, "hello", "k1")
        after = await store.send_message(alice, bob, "next", "k2")

        assert again.deduplicated is True
        assert again.message == first.message
        assert after.message.server_seq == 2

    async def test_sequence_shared(self, store: Store, make_users: UserFactory) -> None:
        """Both directions share one gapless sequence; other conversations have their own."""
        alice, bob, carol = await make_users(3)

        seqs = [
            (await store.send_message(alice, bob, "1", "a1")).message.server_seq,
            (await store.send_message(bob, alice, "2", "b1")).message.server_seq,
            (await store.send_message(alice, carol, "x", "a2")).message.server_seq,
            (await store.send_message(alice, bob, "3", "a3")).message.server_seq,
        ]

        assert seqs == [1, 2, 1, 3]

    async def test_empty_key_not_deduplicated(self, store: Store, make_users: UserFactory) -> None:
        """Without a client_message_id every send stores a new message."""
        alice, bob = await make_users(2)

        first = await store.send_message(alice, bob, "same", "")
        second = await store.send_message(alice, bob, "same", "")

        assert (first.message.server_seq, second.message.server_seq) == (1, 2)
        assert second.deduplicated is False
        assert first.message.client_message_id == ""

    async def test_text_stored_unchanged(self, store: Store, make_users: UserFactory) -> None:
        """Whitespace, emoji and combining marks survive the round trip byte for byte."""
        alice, bob = await make_users(2)
        text = "  👨\u200d👩\u200d👧 e\u0301 🇨🇳\n第x行\n  "

        await store.send_message(alice, bob, text, "k1")

        assert (await store.get_history(bob, alice)).messages[0].text == text


class TestHistory:
    async def test_empty_conversation(self, store: Store, make_users: UserFactory) -> None:
        """Two users who never wrote get an empty last page."""
        alice, bob = await make_users(2)

        page = await store.get_history(alice, bob)

        assert page.messages == ()
        assert page.next_cursor == ""
        assert page.has_more is False

    async def test_same_for_both(self, store: Store, make_users: UserFactory) -> None:
        """Both participants see the same conversation."""
        alice, bob = await make_users(2)
        await store.send_message(alice, bob, "hi", "a1")
        await store.send_message(bob, alice, "hey", "b1")

        from_alice = await store.get_history(alice, bob)
        from_bob = await store.get_history(bob, alice)

        assert from_alice == from_bob
        assert [(m.sender, m.text) for m in from_alice.messages] == [(alice, "hi"), (bob, "hey")]

    async def test_older_pages(self, store: Store, make_users: UserFactory) -> None:
        """Paging "older" from the newest walks back with next_cursor until the start."""
        alice, bob = await make_users(2)
        await _send_many(store, alice, bob, 7)

        first = await store.get_history(alice, bob, limit=3)
        second = await store.get_history(alice, bob, cursor=first.next_cursor, limit=3)
        third = await store.get_history(alice, bob, cursor=second.next_cursor, limit=3)

        assert [m.server_seq for m in first.messages] == [5, 6, 7]
        assert (first.next_cursor, first.has_more) == ("5", True)
        assert [m.server_seq for m in second.messages] == [2, 3, 4]
        assert (second.next_cursor, second.has_more) == ("2", True)
        assert [m.server_seq for m in third.messages] == [1]
        assert (third.next_cursor, third.has_more) == ("", False)

    async def test_newer_pages(self, store: Store, make_users: UserFactory) -> None:
        """Paging "newer" from the start walks forward until the newest."""
        alice, bob = await make_users(2)
        await _send_many(store, alice, bob, 5)

        first = await store.get_history(alice, bob, limit=2, direction="newer")
        second = await store.get_history(
            alice, bob, cursor=first.next_cursor, limit=2, direction="newer"
        )
        third = await store.get_history(
            alice, bob, cursor=second.next_cursor, limit=2, direction="newer"
        )

        assert [m.server_seq for m in first.messages] == [1, 2]
        assert (first.next_cursor, first.has_more) == ("2", True)
        assert [m.server_seq for m in second.messages] == [3, 4]
        assert [m.server_seq for m in third.messages] == [5]
        assert (third.next_cursor, third.has_more) == ("", False)

    async def test_exact_fit(self, store: Store, make_users: UserFactory) -> None:
        """A page that ends exactly at the last message reports no more pages."""
        alice, bob = await make_users(2)
        await _send_many(store, alice, bob, 4)

        page = await store.get_history(alice, bob, limit=4)

        assert len(page.messages) == 4
        assert page.has_more is False
        assert page.next_cursor == ""

    async def test_cursor_is_exclusive(self, store: Store, make_users: UserFactory) -> None:
        """The cursor's own message is never in the page, in either direction."""
        alice, bob = await make_users(2)
        await _send_many(store, alice, bob, 5)

        older = await store.get_history(alice, bob, cursor="3")
        newer = await store.get_history(alice, bob, cursor="3", direction="newer")

        assert [m.server_seq for m in older.messages] == [1, 2]
        assert [m.server_seq for m in newer.messages] == [4, 5]

    async def test_catch_up_after_newest(self, store: Store, make_users: UserFactory) -> None:
        """Asking for messages newer than the newest returns an empty last page."""
        alice, bob = await make_users(2)
        await _send_many(store, alice, bob, 2)

        page = await store.get_history(bob, alice, cursor="2", direction="newer")

        assert page.messages == ()
        assert page.has_more is False

    async def test_default_limit(self, store: Store, make_users: UserFactory) -> None:
        """limit 0 means 30 messages."""
        alice, bob = await make_users(2)
        await _send_many(store, alice, bob, 31)

        page = await store.get_history(alice, bob, limit=0)

        assert len(page.messages) == 30
        assert page.has_more is True

    @pytest.mark.parametrize("direction", ["", "older"])
    async def test_older_aliases(
        self, store: Store, make_users: UserFactory, direction: str
    ) -> None:
        """An empty direction means "older"."""
        alice, bob = await make_users(2)
        await _send_many(store, alice, bob, 3)

        page = await store.get_history(alice, bob, limit=1, direction=direction)

        assert [m.server_seq for m in page.messages] == [3]


class TestReadCursor:
    async def test_unread_counts_peer_only(self, store: Store, make_users: UserFactory) -> None:
        """Own messages are never unread; the peer's count until read."""
        alice, bob = await make_users(2)
        await _send_many(store, alice, bob, 3)

        alice_view = await store.list_friends(alice)
        bob_view = await store.list_friends(bob)

        assert [entry.unread for entry in alice_view] == [0]
        assert [entry.unread for entry in bob_view] == [3]

    async def test_mark_read_to_newest(self, store: Store, make_users: UserFactory) -> None:
        """0 or less marks everything read and returns the newest seq."""
        alice, bob = await make_users(2)
        await _send_many(store, alice, bob, 3)

        assert await store.mark_read(bob, alice, 0) == 3
        assert [entry.unread for entry in await store.list_friends(bob)] == [0]

    async def test_mark_read_partial(self, store: Store, make_users: UserFactory) -> None:
        """A cursor in the middle leaves the peer's later messages unread."""
        alice, bob = await make_users(2)
        await store.send_message(alice, bob, "1", "a1")
        await store.send_message(alice, bob, "2", "a2")
        await store.send_message(bob, alice, "3", "b1")
        await store.send_message(alice, bob, "4", "a3")
        await store.send_message(alice, bob, "5", "a4")

        # Bob's own reply at seq 3 already moved his cursor to 3.
        assert await store.mark_read(bob, alice, 2) == 3
        assert await store.mark_read(bob, alice, 4) == 4

        assert [entry.unread for entry in await store.list_friends(bob)] == [1]

    async def test_never_backwards(self, store: Store, make_users: UserFactory) -> None:
        """A stale device sending an older cursor does not move it back."""
        alice, bob = await make_users(2)
        await _send_many(store, bob, alice, 5)
        await store.mark_read(alice, bob, 5)

        assert await store.mark_read(alice, bob, 4) == 5
        assert [entry.unread for entry in await store.list_friends(alice)] == [0]

    async def test_capped_at_newest(self, store: Store, make_users: UserFactory) -> None:
        """A cursor past the newest message is capped to it."""
        alice, bob = await make_users(2)
        await _send_many(store, bob, alice, 2)

        assert await store.mark_read(alice, bob, 99) == 2
        await store.send_message(bob, alice, "new", "late")
        assert [entry.unread for entry in await store.list_friends(alice)] == [1]

    async def test_no_conversation(self, store: Store, make_users: UserFactory) -> None:
        """Marking a conversation that does not exist returns 0."""
        alice, bob = await make_users(2)

        assert await store.mark_read(alice, bob, 5) == 0

    async def test_sending_reads(self, store: Store, make_users: UserFactory) -> None:
        """Replying moves the sender's cursor to the reply, reading what came before."""
        alice, bob = await make_users(2)
        await _send_many(store, bob, alice, 3)

        await store.send_message(alice, bob, "reply", "a1")

        (entry,) = await store.list_friends(alice)
        assert entry.unread == 0
        assert entry.last_read_server_seq == 4


class TestChanges:
    async def test_all_conversations(self, store: Store, make_users: UserFactory) -> None:
        """since=0 lists every conversation of the owner with its state."""
        alice, bob, carol = await make_users(3)
        await store.send_message(bob, alice, "hi", "b1")
        await store.send_message(carol, alice, "yo", "c1")
        await store.send_message(carol, alice, "yo2", "c2")

        page = await store.list_changes(alice)

        states = {c.peer_public_key: (c.last_server_seq, c.unread) for c in page.changes}
        assert states == {bob: (1, 1), carol: (2, 2)}
        assert page.has_more is False
        assert page.next_since == max(c.change_seq for c in page.changes)

    async def test_only_after_since(self, store: Store, make_users: UserFactory) -> None:
        """Passing next_since back returns only what changed since."""
        alice, bob, carol = await make_users(3)
        await store.send_message(bob, alice, "hi", "b1")
        first = await store.list_changes(alice)
        await store.send_message(carol, alice, "yo", "c1")

        second = await store.list_changes(alice, since=first.next_since)
        third = await store.list_changes(alice, since=second.next_since)

        assert [c.peer_public_key for c in second.changes] == [carol]
        assert third.changes == ()
        assert third.next_since == second.next_since

    async def test_read_on_other_device(self, store: Store, make_users: UserFactory) -> None:
        """A read cursor move is a change for the reader, not for the peer."""
        alice, bob = await make_users(2)
        await _send_many(store, bob, alice, 2)
        alice_since = (await store.list_changes(alice)).next_since
        bob_since = (await store.list_changes(bob)).next_since

        await store.mark_read(alice, bob)

        (change,) = (await store.list_changes(alice, since=alice_since)).changes
        assert (change.last_read_server_seq, change.unread) == (2, 0)
        assert (await store.list_changes(bob, since=bob_since)).changes == ()

    async def test_unmoved_cursor_no_change(self, store: Store, make_users: UserFactory) -> None:
        """A mark_read that moves nothing records no change."""
        alice, bob = await make_users(2)
        await _send_many(store, bob, alice, 2)
        await store.mark_read(alice, bob)
        since = (await store.list_changes(alice)).next_since

        await store.mark_read(alice, bob, 1)

        assert (await store.list_changes(alice, since=since)).changes == ()

    async def test_paging(self, store: Store, make_users: UserFactory) -> None:
        """A limit splits the feed into pages that together list every conversation once."""
        keys = await make_users(6)
        owner, others = keys[0], keys[1:]
        for other in others:
            await store.send_message(other, owner, "hi", "k")

        first = await store.list_changes(owner, limit=3)
        second = await store.list_changes(owner, since=first.next_since, limit=3)

        assert first.has_more is True
        assert second.has_more is False
        listed = [c.peer_public_key for c in first.changes + second.changes]
        assert sorted(listed) == sorted(others)

    async def test_peer_read_visible(self, store: Store, make_users: UserFactory) -> None:
        """The change carries the peer's read cursor and the last message."""
        alice, bob = await make_users(2)
        await store.send_message(alice, bob, "hi", "a1")
        await store.mark_read(bob, alice)
        await store.send_message(alice, bob, "again", "a2")

        (change,) = (await store.list_changes(alice)).changes

        assert change.peer_last_read_server_seq == 1
        assert change.last_message is not None
        assert change.last_message.text == "again"
