"""Catch-up planning as a pure state machine: which history pages a conversation needs.

The server numbers each conversation's messages 1, 2, 3, ... with no gaps, so the set
of `server_seq` values in a device's cache shows exactly what it misses. For each conversation
the planner tracks:

- ``synced``: every seq from the point where this device started holding the
  conversation up to ``synced`` is in the cache (0: nothing yet);
- ``held_above``: seqs stored above ``synced + 1``, after a gap (live events that
  overtook a missing one);
- ``newest``: the newest seq the server is known to have, from events and catch-up;
- whether a fetch is outstanding (at most one per conversation).

It is fed what got stored (`on_message`), what the server says exists (`on_hint`) and
the pages that came back (`on_page`), and answers with the next fetch, if any. The
caller stores messages idempotently, keyed by (conversation, seq), so a message that
comes both live and in a page is stored once, whatever the order.

Invariants:

1. ``synced`` never decreases, and no seq in ``held_above`` is ``<= synced + 1``.
2. While ``newest > synced`` and no fetch is outstanding, the planner asks for one.
3. Pages follow on from ``synced`` (`FetchNewer`) until nothing newer is left, so a
   reconnect misses nothing. Only a conversation more than ``max_gap`` messages
   behind starts again from its newest page (`FetchLatest`), leaving older messages
   to be read page by page when the user scrolls up; so does `on_open` of a
   conversation this device never held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, TypeAlias

import attrs

__all__ = [
    "DEFAULT_MAX_GAP",
    "Fetch",
    "FetchLatest",
    "FetchNewer",
    "SyncPlanner",
    "page_is_complete",
]

DEFAULT_MAX_GAP: Final = 1000


@attrs.frozen
class FetchNewer:
    """Read the conversation with `peer` direction "newer", cursor `after`."""

    peer: str
    after: int


@attrs.frozen
class FetchLatest:
    """Read the newest page of the conversation with `peer` (direction "older", no cursor)."""

    peer: str


Fetch: TypeAlias = FetchNewer | FetchLatest


@attrs.define
class _Conversation:
    synced: int = 0
    held_above: set[int] = attrs.Factory(set)
    newest: int = 0
    fetching: bool = False
    # `newest` when the outstanding fetch started: a page that brings nothing disproves
    # only what was known then, not evidence (events, hints) that came in meanwhile.
    newest_at_fetch: int = 0


class SyncPlanner:
    """Plans the history fetches that keep each conversation complete up to its newest seq.

    Not thread-safe; the client calls it from one event loop.
    """

    def __init__(
        self,
        conversations: Mapping[str, tuple[int, Iterable[int]]] | None = None,
        *,
        max_gap: int = DEFAULT_MAX_GAP,
    ) -> None:
        """Start from what the cache contains.

        Args:
            conversations: per peer, its ``synced`` seq and the seqs cached above it.
            max_gap: past this many missing messages a conversation restarts from its
                newest page instead of reading every page in between.
        """
        self._max_gap = max_gap
        self._conversations: dict[str, _Conversation] = {}
        for peer, (synced, above) in (conversations or {}).items():
            conversation = _Conversation(synced=synced, newest=synced)
            for seq in above:
                if seq > synced:
                    conversation.held_above.add(seq)
                    conversation.newest = max(conversation.newest, seq)
            self._advance(conversation)
            self._conversations[peer] = conversation

    def synced(self, peer: str) -> int:
        """Return the seq up to which the conversation is complete here; 0 when none."""
        conversation = self._conversations.get(peer)
        return 0 if conversation is None else conversation.synced

    def newest(self, peer: str) -> int:
        """Return the newest seq known to exist in the conversation."""
        conversation = self._conversations.get(peer)
        return 0 if conversation is None else conversation.newest

    def fetching(self, peer: str) -> bool:
        """Return whether a fetch for the conversation is outstanding."""
        conversation = self._conversations.get(peer)
        return conversation is not None and conversation.fetching

    def missing(self, peer: str) -> bool:
        """Return whether the conversation is known to lack messages at its newest end."""
        conversation = self._conversations.get(peer)
        return conversation is not None and conversation.newest > conversation.synced

    def on_message(self, peer: str, seq: int) -> Fetch | None:
        """Record that a message with this seq was stored (live, or from an own send).

        Returns:
            The fetch to start when the message showed a gap, else None.
        """
        conversation = self._conversation(peer)
        conversation.newest = max(conversation.newest, seq)
        self._hold(conversation, seq)
        return self._next_fetch(peer, conversation)

    def on_hint(self, peer: str, newest: int | None = None) -> Fetch | None:
        """Record that the server has messages up to `newest` (None: one more than held).

        Returns:
            The fetch to start, or None when nothing is missing or a fetch is outstanding.
        """
        conversation = self._conversation(peer)
        target = conversation.synced + 1 if newest is None else newest
        conversation.newest = max(conversation.newest, target)
        return self._next_fetch(peer, conversation)

    def on_open(self, peer: str) -> Fetch | None:
        """Plan the first fetch of a conversation the user opens: its newest page.

        Returns:
            `FetchLatest` for a conversation with nothing held and no fetch outstanding,
            else None.
        """
        conversation = self._conversation(peer)
        if conversation.synced or conversation.held_above or conversation.fetching:
            return None
        self._start(conversation)
        return FetchLatest(peer)

    def on_page(self, fetch: Fetch, seqs: Sequence[int], *, has_more: bool) -> Fetch | None:
        """Record that the page for `fetch` came back and its messages were stored.

        Args:
            fetch: the fetch this page belongs to.
            seqs: the page's seqs.
            has_more: the server's flag: more pages follow in that direction.

        Returns:
            The next fetch of the same conversation, or None when it is complete.
        """
        conversation = self._conversation(fetch.peer)
        conversation.fetching = False

        if isinstance(fetch, FetchLatest):
            if seqs:
                top = max(seqs)
                conversation.newest = max(conversation.newest, top)
                # The newest page is contiguous, so the conversation is complete from its
                # first seq up; anything missing below is read when the user scrolls.
                if top > conversation.synced:
                    conversation.synced = top
                    conversation.held_above = {seq for seq in conversation.held_above if seq > top}
                self._advance(conversation)
            else:
                # The server has no messages: whatever hinted otherwise was wrong.
                self._disprove(conversation)
            return self._next_fetch(fetch.peer, conversation)

        for seq in sorted(seqs):
            conversation.newest = max(conversation.newest, seq)
            self._hold(conversation, seq)
        # Progress is judged against the page's own cursor, never against `synced`:
        # live events may have stored the page's messages while it was on its way,
        # and its `has_more` still reports whether more follow.
        if not any(seq > fetch.after for seq in seqs):
            # The server has nothing after the cursor although a hint claimed more.
            # Give up on that hint rather than loop; the next hint or catch-up
            # checks again.
            self._disprove(conversation)
        elif has_more:
            conversation.newest = max(conversation.newest, conversation.synced + 1)
        return self._next_fetch(fetch.peer, conversation)

    def on_fetch_failed(self, fetch: Fetch) -> None:
        """Record a failed fetch; the conversation waits for the next hint or catch-up."""
        self._conversation(fetch.peer).fetching = False

    def _conversation(self, peer: str) -> _Conversation:
        conversation = self._conversations.get(peer)
        if conversation is None:
            conversation = self._conversations[peer] = _Conversation()
        return conversation

    def _hold(self, conversation: _Conversation, seq: int) -> None:
        if seq <= conversation.synced:
            return
        if seq == conversation.synced + 1:
            conversation.synced = seq
            self._advance(conversation)
        else:
            conversation.held_above.add(seq)

    @staticmethod
    def _start(conversation: _Conversation) -> None:
        conversation.fetching = True
        conversation.newest_at_fetch = conversation.newest

    @staticmethod
    def _disprove(conversation: _Conversation) -> None:
        # Evidence that raised `newest` after the fetch started (a live event, a hint)
        # is newer than the page and is kept, so one more fetch checks it.
        if conversation.newest <= conversation.newest_at_fetch:
            conversation.newest = conversation.synced

    @staticmethod
    def _advance(conversation: _Conversation) -> None:
        while conversation.synced + 1 in conversation.held_above:
            conversation.synced += 1
            conversation.held_above.discard(conversation.synced)
        conversation.held_above = {
            seq for seq in conversation.held_above if seq > conversation.synced
        }

    def _next_fetch(self, peer: str, conversation: _Conversation) -> Fetch | None:
        if conversation.fetching or conversation.newest <= conversation.synced:
            return None
        self._start(conversation)
        if conversation.newest - conversation.synced > self._max_gap:
            return FetchLatest(peer)
        return FetchNewer(peer, conversation.synced)


def page_is_complete(seqs_descending: Sequence[int], *, before: int, limit: int) -> bool:
    """Return whether cached rows cover "the `limit` messages before seq `before`" in full.

    They do when the rows are exactly ``before - 1, before - 2, ...`` down
    to ``max(1, before - limit)``. Any hole means the page must come from the server.
    """
    expected = list(range(before - 1, max(0, before - 1 - limit), -1))
    return list(seqs_descending[: len(expected)]) == expected
