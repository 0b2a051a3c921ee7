"""The catch-up planner: which pages a conversation needs, whatever the event order."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from chatview_client._sync import (
    Fetch,
    FetchLatest,
    FetchNewer,
    SyncPlanner,
    page_is_complete,
)

PEER = "peer"


class FakeServer:
    """A conversation's history and the pages GetMessageHistory would return."""

    def __init__(self, page_size: int) -> None:
        self.newest = 0
        self.page_size = page_size

    def append(self) -> int:
        self.newest += 1
        return self.newest

    def answer(self, fetch: Fetch) -> tuple[list[int], bool]:
        if isinstance(fetch, FetchLatest):
            first = max(1, self.newest - self.page_size + 1)
            return list(range(first, self.newest + 1)), first > 1
        last = min(self.newest, fetch.after + self.page_size)
        return list(range(fetch.after + 1, last + 1)), last < self.newest


class TestSyncPlanner:
    def test_in_order(self) -> None:
        """Messages in order need no fetch."""
        planner = SyncPlanner({PEER: (0, [])})
        fetches = [planner.on_message(PEER, seq) for seq in (1, 2, 3)]

        assert ([None, None, None], 3) == (fetches, planner.synced(PEER))

    def test_gap_fetches(self) -> None:
        """A message after a gap requests the pages after the last complete seq."""
        planner = SyncPlanner({PEER: (2, [])})

        assert FetchNewer(PEER, 2) == planner.on_message(PEER, 5)

    def test_duplicate_ignored(self) -> None:
        """An old seq changes nothing and requests nothing."""
        planner = SyncPlanner({PEER: (3, [])})

        assert (None, 3) == (planner.on_message(PEER, 2), planner.synced(PEER))

    def test_empty_reads_from_start(self) -> None:
        """A short conversation never held here is read from its first message."""
        assert FetchNewer(PEER, 0) == SyncPlanner().on_hint(PEER, 500)

    def test_open_starts_latest(self) -> None:
        """Opening a conversation never held here reads its newest page first."""
        assert FetchLatest(PEER) == SyncPlanner().on_open(PEER)

    def test_open_held_nothing(self) -> None:
        """Opening a conversation already held requests nothing."""
        assert None is SyncPlanner({PEER: (4, [])}).on_open(PEER)

    def test_large_gap_latest(self) -> None:
        """Far behind, it restarts from the newest page rather than read every page."""
        planner = SyncPlanner({PEER: (10, [])}, max_gap=100)

        assert FetchLatest(PEER) == planner.on_hint(PEER, 5000)

    def test_one_fetch_at_a_time(self) -> None:
        """While a fetch is outstanding no second one is asked for."""
        planner = SyncPlanner({PEER: (1, [])})
        planner.on_hint(PEER, 10)

        assert None is planner.on_hint(PEER, 20)

    def test_pages_continue(self) -> None:
        """A page with more behind it asks for the next one from where it ended."""
        planner = SyncPlanner({PEER: (1, [])})
        first = planner.on_hint(PEER, 10)
        assert first is not None

        assert FetchNewer(PEER, 4) == planner.on_page(first, [2, 3, 4], has_more=True)

    def test_complete_stops(self) -> None:
        """The last page ends the fetching."""
        planner = SyncPlanner({PEER: (1, [])})
        first = planner.on_hint(PEER, 3)
        assert first is not None

        assert None is planner.on_page(first, [2, 3], has_more=False)

    def test_no_progress_stops(self) -> None:
        """An empty page where more was expected ends the fetching, not loops."""
        planner = SyncPlanner({PEER: (1, [])})
        first = planner.on_hint(PEER, 9)
        assert first is not None

        assert None is planner.on_page(first, [], has_more=False)
        assert not planner.missing(PEER)

    def test_page_stored_live_continues(self) -> None:
        """A page whose messages came live meanwhile still leads to the next page."""
        planner = SyncPlanner({PEER: (0, [])})
        first = planner.on_hint(PEER, 1)
        assert first is not None
        planner.on_message(PEER, 1)

        assert FetchNewer(PEER, 1) == planner.on_page(first, [1], has_more=True)

    def test_hint_during_fetch_kept(self) -> None:
        """A hint that came while a fetch was out survives that fetch's empty page."""
        planner = SyncPlanner({PEER: (0, [])})
        first = planner.on_hint(PEER, 1)
        assert first is not None
        planner.on_hint(PEER, 3)

        assert FetchNewer(PEER, 0) == planner.on_page(first, [], has_more=False)

    def test_empty_pages_end(self) -> None:
        """Empty pages that claim more end the fetching, not loop."""
        planner = SyncPlanner({PEER: (1, [])})
        first = planner.on_hint(PEER, 9)
        assert first is not None

        assert None is planner.on_page(first, [], has_more=True)

    def test_failed_fetch_retried_on_hint(self) -> None:
        """After a failed fetch the next hint asks again."""
        planner = SyncPlanner({PEER: (1, [])})
        first = planner.on_hint(PEER, 5)
        assert first is not None
        planner.on_fetch_failed(first)

        assert FetchNewer(PEER, 1) == planner.on_hint(PEER, 5)

    def test_restores_held(self) -> None:
        """Seqs cached above a gap are remembered across restarts."""
        planner = SyncPlanner({PEER: (2, [4, 5])})

        assert (2, True) == (planner.synced(PEER), planner.missing(PEER))

    def test_latest_page_jumps(self) -> None:
        """The newest page makes the conversation complete from its first seq up."""
        planner = SyncPlanner({PEER: (0, [])}, max_gap=100)
        first = planner.on_hint(PEER, 250)
        assert first is not None

        assert None is planner.on_page(first, list(range(151, 251)), has_more=True)
        assert 250 == planner.synced(PEER)


deliveries = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.booleans()),  # stored; delivered live or not
        st.tuples(st.just("redeliver"), st.integers(1, 60)),  # a duplicate live event
        st.just(("answer",)),  # the outstanding fetch's page comes back
        st.just(("drop",)),  # the outstanding fetch fails
        st.just(("reconnect",)),  # catch-up hint with the server's newest seq
    ),
    max_size=120,
)


class Scenario:
    """Drives a planner against a `FakeServer`, holding the cache as a set of seqs."""

    def __init__(self, page_size: int, max_gap: int, history: int) -> None:
        self.server = FakeServer(page_size)
        self.cache = {self.server.append() for _ in range(history)}
        self.planner = SyncPlanner({PEER: (history, [])}, max_gap=max_gap)
        self.outstanding: Fetch | None = None

    def start(self, fetch: Fetch | None) -> None:
        if fetch is not None:
            assert self.outstanding is None, "two fetches at once"
            self.outstanding = fetch

    def deliver(self, seq: int) -> None:
        self.cache.add(seq)  # the cache ignores a seq it contains
        self.start(self.planner.on_message(PEER, seq))

    def answer(self) -> None:
        assert self.outstanding is not None
        fetch, self.outstanding = self.outstanding, None
        seqs, more = self.server.answer(fetch)
        self.cache.update(seqs)
        self.start(self.planner.on_page(fetch, seqs, has_more=more))

    def run(self, ops: list[tuple[object, ...]]) -> None:
        for op in ops:
            if op[0] == "append":
                seq = self.server.append()
                if op[1]:
                    self.deliver(seq)
            elif op[0] == "redeliver":
                assert isinstance(op[1], int)
                if op[1] <= self.server.newest:
                    self.deliver(op[1])
            elif op[0] == "answer" and self.outstanding is not None:
                self.answer()
            elif op[0] == "drop" and self.outstanding is not None:
                self.planner.on_fetch_failed(self.outstanding)
                self.outstanding = None
            elif op[0] == "reconnect":
                self.start(self.planner.on_hint(PEER, self.server.newest))

        # A final reconnect, then every fetch runs to its end.
        if self.outstanding is None:
            self.start(self.planner.on_hint(PEER, self.server.newest))
        for _ in range(10_000):
            if self.outstanding is None:
                break
            self.answer()


class TestSyncProperties:
    @settings(max_examples=300)
    @given(deliveries, st.integers(min_value=1, max_value=7), st.integers(0, 3))
    def test_cache_equals_server(
        self, ops: list[tuple[object, ...]], page_size: int, history: int
    ) -> None:
        """Any interleaving of live events, duplicates, pages and failed fetches, then a
        reconnect, leaves the cache equal to the server's history."""
        scenario = Scenario(page_size, max_gap=10_000, history=history)
        scenario.run(ops)

        assert set(range(1, scenario.server.newest + 1)) == scenario.cache
        assert scenario.server.newest == scenario.planner.synced(PEER)

    @settings(max_examples=300)
    @given(deliveries, st.integers(min_value=1, max_value=7), st.integers(1, 10))
    # A page whose messages came live while it was on its way still says "more".
    @example(
        ops=[("append", False), ("reconnect",), ("append", False), ("redeliver", 1)],
        page_size=1,
        max_gap=1,
    )
    def test_newest_page_complete(
        self, ops: list[tuple[object, ...]], page_size: int, max_gap: int
    ) -> None:
        """Far behind, the planner may skip old messages but the newest page is whole
        and nothing newer is missing."""
        scenario = Scenario(page_size, max_gap=max_gap, history=0)
        scenario.run(ops)
        newest = scenario.server.newest

        assert set(range(max(1, newest - page_size + 1), newest + 1)) <= scenario.cache
        assert newest == scenario.planner.synced(PEER)
        assert scenario.cache <= set(range(1, newest + 1))


class TestPageIsComplete:
    def test_complete(self) -> None:
        """A run of seqs right below the cursor completes the page."""
        assert page_is_complete([9, 8, 7], before=10, limit=3)

    def test_hole(self) -> None:
        """A missing seq means the server is asked."""
        assert not page_is_complete([9, 7, 6], before=10, limit=3)

    def test_start_of_conversation(self) -> None:
        """Near seq 1 fewer rows than the limit are complete."""
        assert page_is_complete([2, 1], before=3, limit=30)

    def test_short(self) -> None:
        """Fewer rows than available means incomplete."""
        assert not page_is_complete([9], before=10, limit=3)
