"""KeyPair: construction from every private key form, signing, and no leaks."""

from __future__ import annotations

import copy
import pickle

import nacl.signing
import pytest
from hypothesis import given

from chatview_identity import InvalidPrivateKeyError, KeyPair, PublicKey, verify_signature

from .strategies import keypairs, messages, seeds

# RFC 8032, section 7.1, test 1.
RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_EMPTY_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


class TestConstruct:
    def test_rfc8032_seed(self) -> None:
        """The RFC 8032 seed gives its published public key."""
        keypair = KeyPair.from_seed(bytes.fromhex(RFC8032_SEED))

        assert keypair.public_key.hex == RFC8032_PUBLIC

    @given(seeds)
    def test_seed_round_trip(self, seed: bytes) -> None:
        """seed_hex() gives back the seed the key pair was made from."""
        assert KeyPair.from_seed(seed).seed_hex() == seed.hex()

    @given(seeds)
    def test_private_key_form(self, seed: bytes) -> None:
        """libsodium's 64-byte form (seed, then public key) gives the same key pair."""
        from_seed = KeyPair.from_seed(seed)
        private_key = seed + from_seed.public_key.raw

        assert KeyPair.from_private_key(private_key) == from_seed

    @given(seeds)
    def test_hex_forms(self, seed: bytes) -> None:
        """Hex of the seed or of the 64-byte key, any case, gives the same key pair."""
        keypair = KeyPair.from_seed(seed)
        private_key_hex = seed.hex() + keypair.public_key.hex

        assert KeyPair.from_hex(seed.hex()) == keypair
        assert KeyPair.from_hex(seed.hex().upper()) == keypair
        assert KeyPair.from_hex(f" 0x{private_key_hex}\n") == keypair

    def test_generate_distinct(self) -> None:
        """Two generated key pairs differ."""
        assert KeyPair.generate() != KeyPair.generate()

    def test_mismatched_halves(self) -> None:
        """A 64-byte key whose public half is not its seed's is rejected."""
        other = KeyPair.generate().public_key.raw

        with pytest.raises(InvalidPrivateKeyError, match="does not match its seed"):
            KeyPair.from_private_key(bytes.fromhex(RFC8032_SEED) + other)

    @pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
    def test_seed_length(self, length: int) -> None:
        """Only 32 bytes are a seed."""
        with pytest.raises(InvalidPrivateKeyError, match=f"^Ed25519 seed is {length} bytes"):
            KeyPair.from_seed(bytes(length))

    @pytest.mark.parametrize("length", [0, 32, 63, 65])
    def test_private_key_length(self, length: int) -> None:
        """Only 64 bytes are a libsodium private key."""
        with pytest.raises(InvalidPrivateKeyError, match=f"is {length} bytes long; expected 64"):
            KeyPair.from_private_key(bytes(length))

    @pytest.mark.parametrize("digits", [0, 62, 66, 127, 130])
    def test_hex_length(self, digits: int) -> None:
        """Hex must be 64 or 128 digits."""
        with pytest.raises(InvalidPrivateKeyError, match=f"has {digits} digits"):
            KeyPair.from_hex("a" * digits)

    def test_hex_bad_digit_not_echoed(self) -> None:
        """A bad hex digit is located by position; no key character is echoed."""
        text = RFC8032_SEED[:20] + "z" + RFC8032_SEED[21:]

        with pytest.raises(InvalidPrivateKeyError) as caught:
            KeyPair.from_hex(text)

        assert "at 20" in str(caught.value)
        assert "z" not in str(caught.value)
        assert RFC8032_SEED[:8] not in str(caught.value)

    def test_wraps_only_signing_keys(self) -> None:
        """The constructor takes a PyNaCl SigningKey, not raw bytes."""
        with pytest.raises(TypeError, match="must be SigningKey"):
            KeyPair(bytes(32))  # type: ignore[arg-type]


class TestSign:
    def test_rfc8032_signature(self) -> None:
        """The RFC 8032 key signs the empty message to the published signature."""
        keypair = KeyPair.from_hex(RFC8032_SEED)

        assert keypair.sign(b"").hex() == RFC8032_EMPTY_SIGNATURE

    @given(keypairs, messages)
    def test_signature_verifies(self, keypair: KeyPair, message: bytes) -> None:
        """A signature is 64 bytes and verifies with PyNaCl under the public key."""
        signature = keypair.sign(message)

        assert len(signature) == 64
        nacl.signing.VerifyKey(keypair.public_key.raw).verify(message, signature)
        assert verify_signature(keypair.public_key, message, signature)

    def test_sign_text_rejected(self) -> None:
        """Signing takes bytes, so text is never encoded implicitly."""
        keypair = KeyPair.generate()

        with pytest.raises(TypeError, match="data must be bytes"):
            keypair.sign("hello")  # type: ignore[arg-type]


class TestNoLeaks:
    @given(seeds)
    def test_repr_and_str(self, seed: bytes) -> None:
        """repr() and str() show the public key and never the seed or private key."""
        keypair = KeyPair.from_seed(seed)
        private_key_hex = seed.hex() + keypair.public_key.hex

        for text in (repr(keypair), str(keypair), f"{keypair}", f"{keypair!r}"):
            assert seed.hex() not in text
            assert seed.hex().upper() not in text
            assert private_key_hex not in text
            assert repr(seed) not in text
            assert keypair.public_key.hex in text

    def test_repr_shape(self) -> None:
        """repr() names the class and the public key."""
        keypair = KeyPair.from_hex(RFC8032_SEED)

        assert repr(keypair) == f"KeyPair(public_key=PublicKey('{RFC8032_PUBLIC}'))"

    def test_pickle_refused(self) -> None:
        """Pickling would copy the private key out, so it is refused."""
        keypair = KeyPair.generate()

        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(keypair)

    def test_copy_is_same(self) -> None:
        """copy and deepcopy return the same immutable object."""
        keypair = KeyPair.generate()

        assert copy.copy(keypair) is keypair
        assert copy.deepcopy(keypair) is keypair

    def test_no_instance_dict(self) -> None:
        """Slots keep stray attributes (and so stray copies of secrets) off the object."""
        keypair = KeyPair.generate()

        with pytest.raises(AttributeError):
            keypair.extra = 1  # type: ignore[attr-defined]


class TestEquality:
    @given(seeds)
    def test_equal_by_public_key(self, seed: bytes) -> None:
        """Two key pairs from one seed are equal and hash alike."""
        first = KeyPair.from_seed(seed)
        second = KeyPair.from_seed(seed)

        assert first == second
        assert hash(first) == hash(second)

    def test_not_equal_to_public_key(self) -> None:
        """A key pair is not equal to its public key."""
        keypair = KeyPair.generate()
        public_key: PublicKey = keypair.public_key

        assert keypair != public_key
