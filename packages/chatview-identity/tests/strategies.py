"""Hypothesis strategies shared by the chatview_identity tests."""

from __future__ import annotations

import base64
import string

import nacl.bindings
from hypothesis import strategies as st

from chatview_identity import KeyPair, PublicKey

__all__ = [
    "invalid_key_characters",
    "invalid_point_bytes",
    "keypairs",
    "messages",
    "pins",
    "public_keys",
    "seeds",
    "spelled_public_keys",
    "spellings",
    "wrong_length_key_texts",
]

seeds = st.binary(min_size=32, max_size=32)
keypairs = seeds.map(KeyPair.from_seed)
public_keys = keypairs.map(lambda keypair: keypair.public_key)
messages = st.binary(max_size=256)

# Any text without lone surrogates: PINs may be digits, words, CJK or emoji.
pins = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=16)

_whitespace = st.sampled_from(["", " ", "\n", "\t", " \r\n"])


@st.composite
def _hex_spellings(draw: st.DrawFn, key: PublicKey) -> str:
    uppercase = draw(st.lists(st.booleans(), min_size=64, max_size=64))
    digits = "".join(
        char.upper() if upper else char for char, upper in zip(key.hex, uppercase, strict=True)
    )
    prefix = draw(st.sampled_from(["", "0x", "0X"]))
    return prefix + digits


@st.composite
def _base64_spellings(draw: st.DrawFn, key: PublicKey) -> str:
    encode = draw(st.sampled_from([base64.b64encode, base64.urlsafe_b64encode]))
    text = encode(key.raw).decode("ascii")
    if draw(st.booleans()):
        text = text.rstrip("=")
    return text


@st.composite
def spellings(draw: st.DrawFn, key: PublicKey) -> str:
    """Draw one accepted spelling of `key`: hex in any case or base64 of either alphabet."""
    body = draw(st.one_of(_hex_spellings(key), _base64_spellings(key)))
    return draw(_whitespace) + body + draw(_whitespace)


spelled_public_keys = public_keys.flatmap(lambda key: st.tuples(st.just(key), spellings(key)))
"""Pairs of a key and one accepted spelling of it."""


@st.composite
def _wrong_length_texts(draw: st.DrawFn) -> str:
    raw = draw(st.binary(min_size=1, max_size=64).filter(lambda data: len(data) != 32))
    encoding = draw(st.sampled_from(["hex", "base64", "base64url", "base64-unpadded"]))
    if encoding == "hex":
        return raw.hex()
    if encoding == "base64":
        return base64.b64encode(raw).decode("ascii")
    text = base64.urlsafe_b64encode(raw).decode("ascii")
    return text if encoding == "base64url" else text.rstrip("=")


wrong_length_key_texts = _wrong_length_texts()
"""Hex or base64 of anything but 32 bytes."""

invalid_point_bytes = st.binary(min_size=32, max_size=32).filter(
    lambda raw: not nacl.bindings.crypto_core_ed25519_is_valid_point(raw)
)
"""32 bytes that are not a valid Ed25519 public key (off the curve, low order...)."""

# Characters that are neither hex, base64 (either alphabet) nor its padding.
invalid_key_characters = st.characters(
    exclude_characters=string.ascii_letters + string.digits + "+/-_=",
    exclude_categories=["Cs"],
).filter(lambda char: not char.isspace())
