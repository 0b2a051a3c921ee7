"""Stateful property test: the store behaves like a simple in-memory model.

Hypothesis drives random sequences of sends (new keys and retried keys), history reads
in both directions with random cursors and limits, and read-cursor moves; after every
step the unread counts of every user must equal the model's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from chatview_store_pg import IdempotencyConflictError, Store, open_store
from chatview_store_pg.testing import truncate_tables

from .support import key_of

USERS = [key_of(number) for number in range(1, 4)]
TEXTS = ["hi", "你好", "ok"]
PAIRS = st.permutations(USERS).map(lambda users: (users[0], users[1]))
"""Two different users: (sender, receiver) or (owner, peer)."""


@attrs.define
class ModelMessage:
    id: str
    sender: str
    text: str
    seq: int


@attrs.define
class Model:
    """What the store should contain, kept the simplest possible way."""

    conversations: dict[frozenset[str], list[ModelMessage]] = attrs.Factory(dict)
    sent: dict[tuple[str, str], tuple[str, str, str]] = attrs.Factory(dict)
    cursors: dict[tuple[str, str], int] = attrs.Factory(dict)

    def messages(self, first: str, second: str) -> list[ModelMessage]:
        return self.conversations.setdefault(frozenset((first, second)), [])

    def unread(self, owner: str, peer: str) -> int:
        cursor = self.cursors.get((owner, peer), 0)
        return sum(1 for m in self.messages(owner, peer) if m.sender == peer and m.seq > cursor)

    def page(
        self, owner: str, peer: str, cursor: int | None, limit: int, older: bool
    ) -> tuple[list[int], bool]:
        seqs = [m.seq for m in self.messages(owner, peer)]
        if older:
            candidates = [s for s in seqs if cursor is None or s < cursor]
            chosen = candidates[-limit:]
        else:
            candidates = [s for s in seqs if cursor is None or s > cursor]
            chosen = candidates[:limit]
        return chosen, len(candidates) > limit


@pytest.fixture(name="model_store")
def fixture_model_store(store_dsn: str) -> Iterator[tuple[asyncio.Runner, Store, str]]:
    """A Store on its own event loop, because Hypothesis' state machine is synchronous."""
    with asyncio.Runner() as runner:
        store = runner.run(open_store(store_dsn, pool_size=2))
        try:
            yield runner, store, store_dsn
        finally:
            runner.run(store.close())


class StoreMachine(RuleBasedStateMachine):
    runner: asyncio.Runner
    store: Store
    dsn: str

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()

    def run(self, awaitable: Any) -> Any:
        return self.runner.run(awaitable)

    @initialize(opening=st.lists(PAIRS, min_size=3, max_size=8))
    def reset(self, opening: list[tuple[str, str]]) -> None:
        truncate_tables(self.dsn)
        for user in USERS:
            self.run(self.store.ensure_user(user))
        # Start from a few conversations with history, so that reads and partial
        # read marks have something to work on from the first step.
        for pair in opening:
            self.send(pair, TEXTS[0], burst=3)

    @rule(pair=PAIRS, text=st.sampled_from(TEXTS), burst=st.integers(min_value=1, max_value=3))
    def send(self, pair: tuple[str, str], text: str, burst: int) -> None:
        # Several messages in a row from one side leave the other side's cursor
        # behind, which is what makes unread counts interesting.
        sender, receiver = pair
        for _ in range(burst):
            key = f"k{len(self.model.sent)}"

            result = self.run(self.store.send_message(sender, receiver, text, key))

            messages = self.model.messages(sender, receiver)
            assert not result.deduplicated
            assert result.message.server_seq == len(messages) + 1
            messages.append(
                ModelMessage(result.message.id, sender, text, result.message.server_seq)
            )
            self.model.sent[(sender, key)] = (result.message.id, receiver, text)
            self.model.cursors[(sender, receiver)] = result.message.server_seq

    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        if not self.model.sent:
            return
        sender, key = data.draw(st.sampled_from(sorted(self.model.sent)))
        message_id, receiver, text = self.model.sent[(sender, key)]

        result = self.run(self.store.send_message(sender, receiver, text, key))

        assert result.deduplicated
        assert result.message.id == message_id

    @rule(data=st.data(), text=st.sampled_from(TEXTS))
    def reuse_key(self, data: st.DataObject, text: str) -> None:
        if not self.model.sent:
            return
        sender, key = data.draw(st.sampled_from(sorted(self.model.sent)))
        _message_id, receiver, stored_text = self.model.sent[(sender, key)]
        if text == stored_text:
            return

        with pytest.raises(IdempotencyConflictError):
            self.run(self.store.send_message(sender, receiver, text, key))

    @rule(
        pair=PAIRS,
        cursor=st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
        limit=st.integers(min_value=0, max_value=5),
        direction=st.sampled_from(["", "older", "newer"]),
    )
    def read_history(
        self, pair: tuple[str, str], cursor: int | None, limit: int, direction: str
    ) -> None:
        owner, peer = pair
        older = direction != "newer"
        text_cursor = "" if cursor is None else str(cursor)

        page = self.run(self.store.get_history(owner, peer, text_cursor, limit, direction))

        expected, has_more = self.model.page(owner, peer, cursor, limit or 30, older)
        assert [m.server_seq for m in page.messages] == expected
        assert page.has_more == has_more
        by_seq = {m.seq: m for m in self.model.messages(owner, peer)}
        for message in page.messages:
            stored = by_seq[message.server_seq]
            assert (message.id, message.sender, message.text) == (
                stored.id,
                stored.sender,
                stored.text,
            )
        if has_more:
            edge = expected[0] if older else expected[-1]
            assert page.next_cursor == str(edge)
        else:
            assert page.next_cursor == ""

    @rule(
        pair=PAIRS,
        kind=st.sampled_from(["all", "before_newest", "anywhere"]),
        number=st.integers(min_value=-1, max_value=12),
    )
    def mark_read(self, pair: tuple[str, str], kind: str, number: int) -> None:
        newest = len(self.model.messages(*pair))
        if kind == "all":
            seq = min(number, 0)
        elif kind == "before_newest":
            # Relative to the newest message, so that a cursor in the middle of the
            # conversation (the interesting case) comes up often.
            seq = max(1, newest - abs(number) % 6)
        else:
            seq = number
        self._mark_read(pair, seq)

    def _mark_read(self, pair: tuple[str, str], seq: int) -> None:
        owner, peer = pair
        newest = len(self.model.messages(owner, peer))
        current = self.model.cursors.get((owner, peer), 0)
        target = newest if seq <= 0 else min(seq, newest)

        stored = self.run(self.store.mark_read(owner, peer, seq))

        expected = max(current, target)
        assert stored == expected
        if newest:
            self.model.cursors[(owner, peer)] = expected

    @invariant()
    def unread_matches(self) -> None:
        if not hasattr(self, "store"):
            return
        for owner in USERS:
            entries = self.run(self.store.list_friends(owner))
            actual = {entry.public_key: entry.unread for entry in entries}
            expected = {
                peer: self.model.unread(owner, peer)
                for peer in USERS
                if peer != owner and self.model.messages(owner, peer)
            }
            assert actual == expected


class TestStoreModel:
    def test_matches_model(self, model_store: tuple[asyncio.Runner, Store, str]) -> None:
        """Random sends, retries, history reads and read marks agree with the model."""
        runner, store, dsn = model_store

        class Bound(StoreMachine):
            pass

        Bound.runner, Bound.store, Bound.dsn = runner, store, dsn
        run_state_machine_as_test(
            Bound,
            settings=settings(
                max_examples=20,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            ),
        )
