"""Concurrent writers: exactly-once sends, gapless sequences, a change feed that skips nothing."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from chatview_store_pg import Message, SendResult, Store, _messaging, open_store

from .support import UserFactory

SENDERS = 50
MESSAGES_PER_SENDER = 4


async def _sender_task(
    stores: list[Store], number: int, alice: str, bob: str
) -> list[tuple[str, list[SendResult]]]:
    """Send MESSAGES_PER_SENDER messages; every second one is sent twice at once."""
    sender, receiver = (alice, bob) if number % 2 == 0 else (bob, alice)
    outcomes: list[tuple[str, list[SendResult]]] = []
    for index in range(MESSAGES_PER_SENDER):
        key = f"task{number}-msg{index}"
        text = f"from task {number}, message {index}"
        copies = 2 if index % 2 == 0 else 1
        # Each copy goes through a different Store (another pool, like another
        # server process), so the twins really race in PostgreSQL.
        results = await asyncio.gather(
            *(
                stores[(number + copy) % len(stores)].send_message(sender, receiver, text, key)
                for copy in range(copies)
            )
        )
        outcomes.append((key, list(results)))
    return outcomes


class TestConcurrentSends:
    async def test_fifty_senders_one_conversation(
        self, store_dsn: str, store: Store, make_users: UserFactory
    ) -> None:
        """50 tasks send (and re-send) into one conversation: once each, seq 1..N."""
        alice, bob = await make_users(2)
        stores = [store, await open_store(store_dsn), await open_store(store_dsn)]
        try:
            per_task = await asyncio.gather(
                *(_sender_task(stores, number, alice, bob) for number in range(SENDERS))
            )
        finally:
            for extra in stores[1:]:
                await extra.close()
        outcomes = [outcome for task in per_task for outcome in task]

        history: list[Message] = []
        cursor = ""
        while True:
            page = await store.get_history(alice, bob, cursor=cursor, limit=100, direction="newer")
            history.extend(page.messages)
            if not page.has_more:
                break
            cursor = page.next_cursor

        expected_count = SENDERS * MESSAGES_PER_SENDER
        assert [m.server_seq for m in history] == list(range(1, expected_count + 1))
        assert len({m.client_message_id for m in history}) == expected_count
        for key, results in outcomes:
            # Every copy of a send names the same stored message, and exactly one of
            # the copies stored it.
            assert len({r.message.id for r in results}) == 1, key
            assert [r.deduplicated for r in results].count(False) == 1, key
        stored_ids = {m.client_message_id: m.id for m in history}
        assert all(stored_ids[key] == results[0].message.id for key, results in outcomes)

    async def test_resend_after_commit(self, store: Store, make_users: UserFactory) -> None:
        """Resending every key later returns deduplicated results and adds nothing."""
        alice, bob = await make_users(2)
        first = await asyncio.gather(
            *(store.send_message(alice, bob, f"m{n}", f"k{n}") for n in range(20))
        )

        again = await asyncio.gather(
            *(store.send_message(alice, bob, f"m{n}", f"k{n}") for n in range(20))
        )

        assert [r.message for r in again] == [r.message for r in first]
        assert all(r.deduplicated for r in again)
        assert sorted(r.message.server_seq for r in first) == list(range(1, 21))

    async def test_unread_consistent(self, store: Store, make_users: UserFactory) -> None:
        """Concurrent sends and reads leave unread equal to messages above the cursor."""
        alice, bob = await make_users(2)

        async def bob_sends(count: int) -> None:
            for n in range(count):
                await store.send_message(bob, alice, f"b{n}", f"b{n}")

        async def alice_reads(count: int) -> None:
            for _ in range(count):
                await store.mark_read(alice, bob, random.randint(0, 40))
                await asyncio.sleep(0)

        await asyncio.gather(bob_sends(30), alice_reads(15), alice_reads(15))

        (entry,) = await store.list_friends(alice)
        assert entry.unread == entry.last_server_seq - entry.last_read_server_seq


class TestConcurrentChanges:
    async def test_feed_misses_nothing(self, store: Store, make_users: UserFactory) -> None:
        """A poller following next_since under concurrent writers ends with the true state."""
        keys = await make_users(9)
        owner, peers = keys[0], keys[1:]
        seen: dict[str, tuple[int, int]] = {}
        done = asyncio.Event()

        async def writer(peer: str) -> None:
            for n in range(12):
                if n % 3 == 2:
                    await store.send_message(owner, peer, f"o{n}", f"{peer[-6:]}-o{n}")
                else:
                    await store.send_message(peer, owner, f"p{n}", f"p{n}")
                if n % 4 == 3:
                    await store.mark_read(owner, peer)

        async def poller() -> int:
            since = 0
            polls = 0
            while True:
                finished = done.is_set()
                page = await store.list_changes(owner, since=since, limit=3)
                polls += 1
                for change in page.changes:
                    seen[change.peer_public_key] = (change.last_server_seq, change.unread)
                since = page.next_since
                if finished and not page.has_more:
                    return polls
                await asyncio.sleep(0)

        async def write_all() -> None:
            await asyncio.gather(*(writer(peer) for peer in peers))
            done.set()

        polls, _ = await asyncio.gather(poller(), write_all())

        truth = {
            entry.public_key: (entry.last_server_seq, entry.unread)
            for entry in await store.list_friends(owner)
        }
        assert polls > 1
        assert seen == truth
        assert Counter(seq for seq, _ in truth.values()) == Counter({12: len(peers)})


class TestTwinRace:
    async def test_unique_violation_resolves(self, store: Store, make_users: UserFactory) -> None:
        """A twin committing between the check and the insert ends as a deduplicated result."""
        alice, bob = await make_users(2)
        first = await store.send_message(alice, bob, "hello", "k1")
        checks = 0

        async def blind_first_check(connection: AsyncConnection) -> SendResult | None:
            # The first check misses the stored twin, as if it committed just after.
            nonlocal checks
            checks += 1
            if checks == 1:
                return None
            return await _messaging.find_sent(connection, alice, bob, "hello", "k1")

        result = await store._database.write(
            "send_message",
            partial(
                _messaging.send_message,
                sender=alice,
                receiver=bob,
                text="hello",
                client_message_id="k1",
            ),
            precheck=blind_first_check,
            lock_keys=(alice, bob),
            retry_constraints=_messaging.SEND_RETRY_CONSTRAINTS,
        )

        assert checks == 2
        assert result.deduplicated is True
        assert result.message == first.message
        assert (await store.get_history(alice, bob)).messages == (first.message,)
