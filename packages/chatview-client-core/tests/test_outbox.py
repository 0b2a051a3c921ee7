"""The outbox state machine: its transitions and its ordering invariants."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatview_client import OutboxState
from chatview_client._backoff import Backoff
from chatview_client._outbox import (
    PERMANENT_CODES,
    FailureKind,
    OutboxMachine,
    SendNow,
    Wait,
    classify_failure,
)

from .strategies import entry

BACKOFF = Backoff(initial=1.0, maximum=8.0, multiplier=2.0, jitter=0.5)


def machine(count: int = 0, *, online: bool = True, max_attempts: int = 3) -> OutboxMachine:
    return OutboxMachine(
        [entry(n) for n in range(1, count + 1)],
        backoff=BACKOFF,
        max_attempts=max_attempts,
        online=online,
    )


def send_next(outbox: OutboxMachine, now: float = 0.0) -> str:
    action = outbox.next_action(now)
    assert isinstance(action, SendNow)
    return action.entry.client_message_id


class TestClassify:
    @pytest.mark.parametrize("code", sorted(PERMANENT_CODES))
    def test_permanent(self, code: str) -> None:
        """Refusals that no retry changes are permanent."""
        assert FailureKind.PERMANENT is classify_failure(code)

    @pytest.mark.parametrize(
        "code",
        [
            "UNAVAILABLE",
            "DEADLINE_EXCEEDED",
            "RESOURCE_EXHAUSTED",
            "ABORTED",
            "INTERNAL",
            "UNKNOWN",
            "CANCELLED",
            "UNAUTHENTICATED",
        ],
    )
    def test_transient(self, code: str) -> None:
        """Outages, timeouts and rate limits are retried."""
        assert FailureKind.TRANSIENT is classify_failure(code)


class TestOutboxMachine:
    def test_head_first(self) -> None:
        """The first queued item is sent first."""
        assert "id-0001" == send_next(machine(3))

    def test_one_in_flight(self) -> None:
        """Nothing else is sent while an item is in flight."""
        outbox = machine(3)
        send_next(outbox)

        assert Wait(None) == outbox.next_action(0.0)

    def test_offline_waits(self) -> None:
        """Offline, nothing is sent and no attempt is spent."""
        outbox = machine(1, online=False)

        assert Wait(None) == outbox.next_action(0.0)
        assert 0 == outbox.entries[0].attempts

    def test_delivered_removes(self) -> None:
        """A delivered item leaves the outbox and the next one follows."""
        outbox = machine(2)
        outbox.delivered(send_next(outbox))

        assert "id-0002" == send_next(outbox)

    def test_transient_backs_off(self) -> None:
        """A transient failure queues the item again, not before the backoff."""
        outbox = machine(2)
        key = send_next(outbox)
        outbox.failed(key, FailureKind.TRANSIENT, "down", now=10.0, random=0.0)

        assert Wait(11.0) == outbox.next_action(10.5)
        assert key == send_next(outbox, 11.0)

    def test_transient_keeps_order(self) -> None:
        """A later item does not overtake one waiting for its retry."""
        outbox = machine(2)
        outbox.failed(send_next(outbox), FailureKind.TRANSIENT, "down", now=0.0, random=0.0)

        assert isinstance(outbox.next_action(0.5), Wait)

    def test_permanent_fails(self) -> None:
        """A permanent failure fails the item at once, with its reason."""
        outbox = machine(1)
        failed = outbox.failed(
            send_next(outbox), FailureKind.PERMANENT, "too long", now=0.0, random=0.0
        )

        assert (OutboxState.FAILED, 1, "too long") == (
            failed.state,
            failed.attempts,
            failed.last_error,
        )

    def test_failed_not_blocking(self) -> None:
        """A failed item does not hold up the ones behind it."""
        outbox = machine(2)
        outbox.failed(send_next(outbox), FailureKind.PERMANENT, "no", now=0.0, random=0.0)

        assert "id-0002" == send_next(outbox)

    def test_attempt_limit(self) -> None:
        """Transient failures fail the item after max_attempts."""
        outbox = machine(1, max_attempts=2)
        key = send_next(outbox)
        outbox.failed(key, FailureKind.TRANSIENT, "down", now=0.0, random=0.0)
        send_next(outbox, 100.0)
        failed = outbox.failed(key, FailureKind.TRANSIENT, "down", now=100.0, random=0.0)

        assert OutboxState.FAILED is failed.state

    def test_online_resets_due(self) -> None:
        """Coming back online makes a backed-off item due at once."""
        outbox = machine(1)
        key = send_next(outbox)
        outbox.failed(key, FailureKind.TRANSIENT, "down", now=0.0, random=0.9)
        outbox.set_online(False)
        outbox.set_online(True)

        assert key == send_next(outbox, 0.0)

    def test_retry(self) -> None:
        """A failed item can be queued again, with a fresh attempt budget."""
        outbox = machine(1)
        key = send_next(outbox)
        outbox.failed(key, FailureKind.PERMANENT, "no", now=0.0, random=0.0)
        retried = outbox.retry(key)

        assert (OutboxState.QUEUED, 0, None) == (
            retried.state,
            retried.attempts,
            retried.last_error,
        )

    def test_retry_queued_refused(self) -> None:
        """Only a failed item can be retried."""
        with pytest.raises(ValueError, match=r"^outbox item id-0001 is queued, not failed"):
            machine(1).retry("id-0001")

    def test_discard(self) -> None:
        """A queued item can be discarded."""
        outbox = machine(1)
        outbox.discard("id-0001")

        assert () == outbox.entries

    def test_discard_sending_refused(self) -> None:
        """An item in flight cannot be discarded."""
        outbox = machine(1)
        send_next(outbox)

        with pytest.raises(ValueError, match=r"^outbox item id-0001 is being sent right now"):
            outbox.discard("id-0001")

    def test_sending_restored_queued(self) -> None:
        """An item stored as sending (the process died mid-call) starts queued."""
        stored = attrs.evolve(entry(1), state=OutboxState.SENDING)
        outbox = OutboxMachine([stored], backoff=BACKOFF, max_attempts=3, online=True)

        assert OutboxState.QUEUED is outbox.entries[0].state

    def test_interrupted_uncounted(self) -> None:
        """An abandoned call returns the item to the queue without counting it."""
        outbox = machine(1)
        outbox.interrupted(send_next(outbox))

        assert (OutboxState.QUEUED, 0) == (outbox.entries[0].state, outbox.entries[0].attempts)

    def test_fail_all(self) -> None:
        """A ban fails every queued item."""
        outbox = machine(2)
        outbox.fail_all("account banned")

        assert {OutboxState.FAILED} == {item.state for item in outbox.entries}

    def test_duplicate_add_refused(self) -> None:
        """The same client_message_id cannot be queued twice."""
        with pytest.raises(ValueError, match=r"^outbox already holds client_message_id id-0001"):
            machine(1).add(entry(1))


operations = st.lists(
    st.one_of(
        st.just(("add",)),
        st.just(("step",)),
        st.tuples(st.just("ok")),
        st.tuples(st.just("fail"), st.sampled_from(list(FailureKind)), st.floats(0, 0.999)),
        st.tuples(st.just("online"), st.booleans()),
        st.tuples(st.just("tick"), st.floats(0, 20)),
        st.tuples(st.just("retry"), st.integers(0, 30)),
        st.tuples(st.just("discard"), st.integers(0, 30)),
    ),
    max_size=80,
)


class TestOutboxInvariants:
    @given(operations)
    def test_invariants(self, ops: list[tuple[object, ...]]) -> None:
        """Any sequence of events keeps one item in flight at most, sends only the
        queue's head, never sends offline, waits within the backoff bounds, and
        delivers never-failed items in queue order."""
        outbox = machine(0, max_attempts=4)
        now = 0.0
        added = 0
        in_flight: str | None = None
        ever_failed: set[str] = set()
        delivered: list[str] = []

        for op in ops:
            if op[0] == "add":
                added += 1
                outbox.add(entry(added))
            elif op[0] == "step":
                head = next(
                    (item for item in outbox.entries if item.state is OutboxState.QUEUED), None
                )
                action = outbox.next_action(now)
                if isinstance(action, SendNow):
                    assert outbox.online
                    assert in_flight is None
                    assert head is not None
                    assert head.client_message_id == action.entry.client_message_id
                    in_flight = action.entry.client_message_id
                elif action.until is not None:
                    assert action.until > now
            elif op[0] == "ok" and in_flight is not None:
                outbox.delivered(in_flight)
                delivered.append(in_flight)
                in_flight = None
            elif op[0] == "fail" and in_flight is not None:
                kind, random = op[1], op[2]
                assert isinstance(kind, FailureKind)
                assert isinstance(random, float)
                updated = outbox.failed(in_flight, kind, "error", now=now, random=random)
                ever_failed.add(in_flight)
                if updated.state is OutboxState.QUEUED:
                    action = outbox.next_action(now)
                    assert isinstance(action, Wait)
                    if action.until is not None and outbox.online:
                        wait = action.until - now
                        assert BACKOFF.initial - 1e-9 <= wait <= BACKOFF.maximum + 1e-9
                in_flight = None
            elif op[0] == "online":
                assert isinstance(op[1], bool)
                outbox.set_online(op[1])
            elif op[0] == "tick":
                assert isinstance(op[1], float)
                now += op[1]
            elif op[0] in ("retry", "discard"):
                assert isinstance(op[1], int)
                key = f"id-{op[1]:04d}"
                item = outbox.get(key)
                if item is not None and item.state is OutboxState.FAILED:
                    if op[0] == "retry":
                        outbox.retry(key)
                    else:
                        outbox.discard(key)

            sending = [item for item in outbox.entries if item.state is OutboxState.SENDING]
            assert len(sending) <= 1

        clean = [key for key in delivered if key not in ever_failed]
        assert sorted(clean) == clean
