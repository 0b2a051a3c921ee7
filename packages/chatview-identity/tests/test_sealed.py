"""Sealed message bodies: round trips, both directions, and rejection of changed bytes."""

from __future__ import annotations

import nacl.bindings
import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatview_identity import (
    SEALED_FORMAT_VERSION,
    SEALED_OVERHEAD_BYTES,
    KeyPair,
    SealedMessageError,
    open_message,
    seal_message,
)

from .strategies import keypairs

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
message_ids = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
distinct_pairs = st.tuples(keypairs, keypairs).filter(lambda pair: pair[0] != pair[1])

ALICE = KeyPair.from_seed(bytes(range(32)))
BOB = KeyPair.from_seed(bytes(range(1, 33)))
CAROL = KeyPair.from_seed(bytes(range(2, 34)))


def _seal(text: str = "hello", client_message_id: str = "id-1") -> bytes:
    return seal_message(ALICE, BOB.public_key, text, client_message_id=client_message_id)


class TestRoundTrip:
    @given(pair=distinct_pairs, text=texts, client_message_id=message_ids)
    def test_receiver_opens(
        self, pair: tuple[KeyPair, KeyPair], text: str, client_message_id: str
    ) -> None:
        """The receiver opens what the sender sealed and gets the same text."""
        sender, receiver = pair
        sealed = seal_message(
            sender, receiver.public_key, text, client_message_id=client_message_id
        )

        opened = open_message(receiver, sender.public_key, sealed, author=sender.public_key)

        assert text == opened

    @given(pair=distinct_pairs, text=texts)
    def test_sender_opens_own(self, pair: tuple[KeyPair, KeyPair], text: str) -> None:
        """The author's other devices open the author's own sealed message."""
        sender, receiver = pair
        sealed = seal_message(sender, receiver.public_key, text)

        opened = open_message(sender, receiver.public_key, sealed, author=sender.public_key)

        assert text == opened

    def test_shared_key_symmetric(self) -> None:
        """X25519 of (a_sk, B_pk) equals (b_sk, A_pk), which is why both sides can open."""
        a_sk = nacl.signing.SigningKey(bytes(range(32))).to_curve25519_private_key()
        b_sk = nacl.signing.SigningKey(bytes(range(1, 33))).to_curve25519_private_key()
        a_pk = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(ALICE.public_key.raw)
        b_pk = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(BOB.public_key.raw)

        assert nacl.bindings.crypto_box_beforenm(b_pk, bytes(a_sk)) == (
            nacl.bindings.crypto_box_beforenm(a_pk, bytes(b_sk))
        )

    def test_client_message_id_checked(self) -> None:
        """A reader that knows the id gets the text when the bound id matches."""
        opened = open_message(
            BOB, ALICE.public_key, _seal(), author=ALICE.public_key, client_message_id="id-1"
        )

        assert "hello" == opened

    def test_fresh_nonce(self) -> None:
        """Sealing the same text twice gives different bytes."""
        assert _seal() != _seal()

    def test_layout(self) -> None:
        """Version byte first; size is the overhead plus the text and id bytes."""
        sealed = _seal("héllo", "id-1")

        assert SEALED_FORMAT_VERSION == sealed[0]
        assert SEALED_OVERHEAD_BYTES + len("héllo".encode()) + len(b"id-1") == len(sealed)

    def test_ciphertext_hides_text(self) -> None:
        """The plaintext bytes do not appear in the sealed body."""
        assert b"secret words" not in _seal("secret words")


class TestTamper:
    @given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
    def test_any_changed_byte(self, position: int, flip: int) -> None:
        """Changing any byte makes opening fail."""
        sealed = bytearray(_seal())
        sealed[position % len(sealed)] ^= flip

        with pytest.raises(SealedMessageError):
            open_message(BOB, ALICE.public_key, bytes(sealed), author=ALICE.public_key)

    def test_truncated(self) -> None:
        """A body shorter than the overhead is refused before decrypting."""
        with pytest.raises(SealedMessageError, match=r"^sealed body is 10 bytes"):
            open_message(BOB, ALICE.public_key, _seal()[:10], author=ALICE.public_key)

    def test_unknown_version(self) -> None:
        """A future format version is named in the error."""
        sealed = bytes([2]) + _seal()[1:]

        with pytest.raises(SealedMessageError, match=r"^sealed body has format version 2;"):
            open_message(BOB, ALICE.public_key, sealed, author=ALICE.public_key)

    def test_third_party(self) -> None:
        """A user outside the pair cannot open it."""
        with pytest.raises(SealedMessageError, match=r"failed authentication"):
            open_message(CAROL, ALICE.public_key, _seal(), author=ALICE.public_key)

    def test_reflected_author(self) -> None:
        """A message of Alice presented as written by Bob is refused."""
        with pytest.raises(SealedMessageError, match=r"another author"):
            open_message(ALICE, BOB.public_key, _seal(), author=BOB.public_key)

    def test_moved_between_messages(self) -> None:
        """A body presented under another client_message_id is refused."""
        with pytest.raises(SealedMessageError, match=r"another client_message_id"):
            open_message(
                ALICE, BOB.public_key, _seal(), author=ALICE.public_key, client_message_id="id-2"
            )

    def test_author_outside_pair(self) -> None:
        """Naming an author who is neither party is a caller error."""
        with pytest.raises(ValueError, match=r"^author [0-9a-f]{64} is neither"):
            open_message(BOB, ALICE.public_key, _seal(), author=CAROL.public_key)


class TestSealArguments:
    def test_lone_surrogate(self) -> None:
        """Text that cannot be UTF-8 is refused."""
        with pytest.raises(SealedMessageError, match=r"lone surrogate"):
            seal_message(ALICE, BOB.public_key, "\ud800")

    def test_long_id(self) -> None:
        """An id over 255 bytes cannot be bound."""
        with pytest.raises(SealedMessageError, match=r"^client_message_id is 256 bytes"):
            seal_message(ALICE, BOB.public_key, "hi", client_message_id="x" * 256)

    def test_type_checked(self) -> None:
        """A hex string instead of a PublicKey is a TypeError."""
        with pytest.raises(TypeError, match=r"receiver_public_key must be PublicKey"):
            seal_message(ALICE, BOB.public_key.hex, "hi")  # type: ignore[arg-type]
