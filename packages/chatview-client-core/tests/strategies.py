"""Shared Hypothesis strategies and builders for the client's tests."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from chatview_client import Message, MessageState, OutboxEntry

ME = "a" * 64
PEER = "b" * 64
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

message_texts = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=50
).filter(lambda text: text.strip() != "")


def entry(position: int, peer: str = PEER, text: str = "hi") -> OutboxEntry:
    """An outbox item with a readable id."""
    return OutboxEntry(
        client_message_id=f"id-{position:04d}",
        peer=peer,
        text=text,
        created_at=EPOCH,
        position=position,
    )


def server_message(seq: int, *, peer: str = PEER, incoming: bool = True) -> Message:
    """A message as the server returns it in the conversation with `peer`."""
    sender, receiver = (peer, ME) if incoming else (ME, peer)
    return Message(
        peer=peer,
        sender=sender,
        receiver=receiver,
        text=f"message {seq}",
        timestamp=EPOCH,
        state=MessageState.INCOMING if incoming else MessageState.SENT,
        server_seq=seq,
        message_id=f"00000000-0000-7000-8000-{seq:012d}",
    )
