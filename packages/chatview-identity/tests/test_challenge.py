"""Login challenges: the client signs only challenges; the server verifies exactly."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from chatview_identity import (
    CHALLENGE_BYTES,
    CHALLENGE_PREFIX,
    CHALLENGE_RANDOM_BYTES,
    InvalidChallengeError,
    InvalidSignatureError,
    KeyPair,
    check_challenge,
    new_challenge,
    sign_challenge,
    verify_challenge_signature,
    verify_signature,
)

from .strategies import keypairs, messages

challenges = st.binary(min_size=CHALLENGE_RANDOM_BYTES, max_size=CHALLENGE_RANDOM_BYTES).map(
    lambda random_part: CHALLENGE_PREFIX + random_part
)


def _flip_bit(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


class TestNewChallenge:
    def test_shape(self) -> None:
        """A challenge is the prefix and 32 more bytes, 50 in all."""
        challenge = new_challenge()

        assert CHALLENGE_BYTES == 50
        assert len(challenge) == CHALLENGE_BYTES
        assert challenge.startswith(CHALLENGE_PREFIX)

    def test_fresh(self) -> None:
        """Each challenge is new."""
        assert len({new_challenge() for _ in range(100)}) == 100

    def test_passes_check(self) -> None:
        """The server's challenges pass the client's check."""
        check_challenge(new_challenge())


class TestCheckChallenge:
    @given(st.binary(max_size=200).filter(lambda data: len(data) != CHALLENGE_BYTES))
    def test_wrong_length(self, data: bytes) -> None:
        """Any other length is rejected, prefix or not."""
        for candidate in (data, CHALLENGE_PREFIX + data):
            if len(candidate) == CHALLENGE_BYTES:
                continue
            with pytest.raises(
                InvalidChallengeError, match=rf"^login challenge is {len(candidate)} bytes"
            ):
                check_challenge(candidate)

    @given(st.binary(min_size=CHALLENGE_BYTES, max_size=CHALLENGE_BYTES))
    def test_wrong_prefix(self, data: bytes) -> None:
        """50 bytes without the prefix are rejected."""
        assume(not data.startswith(CHALLENGE_PREFIX))
        with pytest.raises(InvalidChallengeError, match="does not start with"):
            check_challenge(data)

    def test_message_like_data(self) -> None:
        """Data shaped like a chat message is never accepted as a challenge."""
        data = "转账 100 元给 Mallory".encode().ljust(CHALLENGE_BYTES, b" ")

        with pytest.raises(InvalidChallengeError):
            check_challenge(data)

    def test_not_bytes(self) -> None:
        """Text is a type error."""
        with pytest.raises(TypeError, match="login challenge must be bytes"):
            check_challenge(new_challenge().hex())  # type: ignore[arg-type]


class TestSignChallenge:
    @given(keypairs, challenges)
    def test_round_trip(self, keypair: KeyPair, challenge: bytes) -> None:
        """A signed challenge verifies under the signer's key."""
        signature = sign_challenge(keypair, challenge)

        verify_challenge_signature(keypair.public_key, challenge, signature)
        assert verify_signature(keypair.public_key, challenge, signature)

    def test_refuses_other_data(self) -> None:
        """The client refuses to sign a non-challenge and logs that it did."""
        keypair = KeyPair.generate()

        with capture_logs() as logs, pytest.raises(InvalidChallengeError):
            sign_challenge(keypair, b"send 100 coins to mallory")

        assert logs == [
            {
                "event": "identity.challenge.sign_refused",
                "log_level": "warning",
                "public_key": keypair.public_key.short,
                "length": 25,
            }
        ]


class TestVerify:
    @given(keypairs, messages, st.data())
    def test_changed_signature(self, keypair: KeyPair, message: bytes, data: st.DataObject) -> None:
        """Flipping any bit of the signature makes it fail."""
        signature = keypair.sign(message)
        bit = data.draw(st.integers(min_value=0, max_value=len(signature) * 8 - 1))

        assert not verify_signature(keypair.public_key, message, _flip_bit(signature, bit))

    @given(keypairs, messages.filter(bool), st.data())
    def test_changed_message(self, keypair: KeyPair, message: bytes, data: st.DataObject) -> None:
        """Flipping any bit of the message makes the signature fail."""
        signature = keypair.sign(message)
        bit = data.draw(st.integers(min_value=0, max_value=len(message) * 8 - 1))

        assert not verify_signature(keypair.public_key, _flip_bit(message, bit), signature)

    @given(keypairs, keypairs, messages)
    def test_other_key(self, signer: KeyPair, other: KeyPair, message: bytes) -> None:
        """A signature does not verify under another key."""
        assume(signer != other)
        assert not verify_signature(other.public_key, message, signer.sign(message))

    def test_every_challenge_bit(self) -> None:
        """Every single-bit change of a signed challenge is rejected by the server check."""
        keypair = KeyPair.generate()
        challenge = new_challenge()
        signature = sign_challenge(keypair, challenge)

        for bit in range(len(challenge) * 8):
            changed = _flip_bit(challenge, bit)
            with pytest.raises((InvalidChallengeError, InvalidSignatureError)):
                verify_challenge_signature(keypair.public_key, changed, signature)

    @pytest.mark.parametrize("length", [0, 1, 63, 65, 128])
    def test_wrong_signature_length(self, length: int) -> None:
        """A signature of the wrong length is False, not an exception."""
        keypair = KeyPair.generate()

        assert not verify_signature(keypair.public_key, b"message", bytes(length))

    def test_challenge_error_message(self) -> None:
        """A failed login names the key briefly and says what to do."""
        keypair = KeyPair.generate()
        challenge = new_challenge()

        with pytest.raises(
            InvalidSignatureError,
            match=rf"^login signature does not verify for public key {keypair.public_key.short};",
        ):
            verify_challenge_signature(keypair.public_key, challenge, bytes(64))

    def test_server_rejects_non_challenge(self) -> None:
        """The server check also rejects a valid signature over a non-challenge."""
        keypair = KeyPair.generate()
        data = b"x" * CHALLENGE_BYTES

        with pytest.raises(InvalidChallengeError):
            verify_challenge_signature(keypair.public_key, data, keypair.sign(data))

    def test_types(self) -> None:
        """Wrong argument types are type errors, not False."""
        keypair = KeyPair.generate()

        with pytest.raises(TypeError, match="public_key must be PublicKey"):
            verify_signature(keypair.public_key.hex, b"", bytes(64))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="signature must be bytes"):
            verify_signature(keypair.public_key, b"", "x" * 64)  # type: ignore[arg-type]

    def test_non_canonical_s_rejected(self) -> None:
        """A signature with S + L in place of S is rejected, as libsodium promises."""
        group_order = 2**252 + 27742317777372353535851937790883648493
        keypair = KeyPair.generate()
        signature = keypair.sign(b"message")
        s_value = int.from_bytes(signature[32:], "little")
        malleated = signature[:32] + (s_value + group_order).to_bytes(32, "little")

        assert verify_signature(keypair.public_key, b"message", signature)
        assert not verify_signature(keypair.public_key, b"message", malleated)

    def test_low_order_r_rejected(self) -> None:
        """A signature whose R is the identity point is rejected."""
        keypair = KeyPair.generate()
        signature = keypair.sign(b"message")
        identity_point = b"\x01" + bytes(31)

        assert not verify_signature(keypair.public_key, b"message", identity_point + signature[32:])
