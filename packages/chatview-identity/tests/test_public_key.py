"""Public keys: parsing every accepted spelling to one canonical identity."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatview_identity import (
    InvalidPublicKeyError,
    PublicKey,
    canonical_public_key,
    parse_public_key,
)

from .strategies import (
    invalid_key_characters,
    invalid_point_bytes,
    public_keys,
    spelled_public_keys,
    wrong_length_key_texts,
)

# RFC 8032, section 7.1, test 1: a published Ed25519 public key.
RFC8032_HEX = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_BASE64 = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC8032_BASE64URL = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="


class TestParse:
    @pytest.mark.parametrize(
        "text",
        [
            RFC8032_HEX,
            RFC8032_HEX.upper(),
            f" {RFC8032_HEX}\n",
            f"0x{RFC8032_HEX}",
            f"0X{RFC8032_HEX.upper()}",
            RFC8032_BASE64,
            RFC8032_BASE64.rstrip("="),
            RFC8032_BASE64URL,
            RFC8032_BASE64URL.rstrip("="),
        ],
    )
    def test_rfc8032_spellings(self, text: str) -> None:
        """Every accepted spelling of the RFC 8032 test key gives its lowercase hex."""
        assert parse_public_key(text).hex == RFC8032_HEX

    @given(spelled_public_keys)
    def test_round_trip(self, case: tuple[PublicKey, str]) -> None:
        """Any accepted spelling parses back to the same key."""
        key, text = case

        parsed = parse_public_key(text)

        assert parsed == key
        assert hash(parsed) == hash(key)
        assert parsed.raw == key.raw

    @given(spelled_public_keys)
    def test_canonical(self, case: tuple[PublicKey, str]) -> None:
        """The canonical form is 64 lowercase hex characters, the same for every spelling."""
        key, text = case

        canonical = canonical_public_key(text)

        assert canonical == key.raw.hex()
        assert re.fullmatch(r"[0-9a-f]{64}", canonical)

    @given(public_keys)
    def test_canonical_idempotent(self, key: PublicKey) -> None:
        """Parsing the canonical form gives the key back."""
        assert parse_public_key(str(key)) == key

    @pytest.mark.parametrize("padding", ["=", ""])
    def test_base64_starting_0x(self, padding: str) -> None:
        """A valid key whose base64 starts with "0x" is read as base64, not as hex."""
        text = "0xjdvRxGf2/Q85CbQaIxFeb1Kb5mhrKDUH5ADbP/4v8" + padding

        key = parse_public_key(text)

        assert key.hex == "d318ddbd1c467f6fd0f3909b41a23115e6f529be6686b283507e400db3ffe2ff"


class TestParseRejects:
    @pytest.mark.parametrize("text", ["", " ", "\n\t"])
    def test_empty(self, text: str) -> None:
        """Empty or blank text is rejected as empty."""
        with pytest.raises(InvalidPublicKeyError, match=r"^public key is empty;"):
            parse_public_key(text)

    @given(wrong_length_key_texts)
    def test_wrong_length(self, text: str) -> None:
        """Hex or base64 of anything but 32 bytes is rejected."""
        with pytest.raises(InvalidPublicKeyError):
            parse_public_key(text)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("ab" * 31, r"has 62 hex digits \(31 bytes\); expected 64 hex digits"),
            ("ab" * 33, r"has 66 hex digits \(33 bytes\); expected 64 hex digits"),
            (base64.b64encode(b"\x01" * 31).decode(), r"would be 31\)"),
            (base64.b64encode(b"\x01" * 33).decode(), r"would be 33\)"),
        ],
    )
    def test_wrong_length_message(self, text: str, message: str) -> None:
        """The message gives the decoded length for hex and base64."""
        with pytest.raises(InvalidPublicKeyError, match=message):
            parse_public_key(text)

    def test_hex_with_g(self) -> None:
        """64 characters with a non-hex letter are named as bad hex, with the position."""
        text = RFC8032_HEX[:10] + "g" + RFC8032_HEX[11:]

        with pytest.raises(InvalidPublicKeyError, match=r"character 'g' at position 10"):
            parse_public_key(text)

    @given(st.integers(min_value=1, max_value=62), invalid_key_characters)
    def test_bad_character(self, position: int, char: str) -> None:
        """A character outside hex and base64 inside the text is rejected."""
        text = RFC8032_HEX[:position] + char + RFC8032_HEX[position + 1 :]

        with pytest.raises(InvalidPublicKeyError, match="character"):
            parse_public_key(text)

    def test_mixed_alphabets(self) -> None:
        """Base64 mixing '/' and '_' is rejected rather than guessed."""
        text = RFC8032_BASE64.replace("/", "_", 1)[:-2] + "+="

        with pytest.raises(InvalidPublicKeyError, match="mixes the standard"):
            parse_public_key(text)

    def test_double_padding(self) -> None:
        """Two '=' after 43 characters is rejected."""
        with pytest.raises(InvalidPublicKeyError, match="2 '=' padding"):
            parse_public_key(RFC8032_BASE64 + "=")

    def test_non_canonical_base64(self) -> None:
        """Setting the unused low bits of the last character is rejected."""
        # 'o' (40) ends the key; 'p' (41) decodes to the same bytes with a spare bit set.
        text = RFC8032_BASE64[:-2] + "p"

        with pytest.raises(InvalidPublicKeyError, match="not canonical base64"):
            parse_public_key(text)

    def test_prefixed_base64(self) -> None:
        """A 0x prefix before base64 is rejected, not stripped."""
        with pytest.raises(InvalidPublicKeyError, match="'0x11qY"):
            parse_public_key("0x" + RFC8032_BASE64)

    @pytest.mark.parametrize("digits", [62, 63, 66])
    def test_prefixed_hex_length(self, digits: int) -> None:
        """0x and the wrong number of hex digits is reported as hex."""
        with pytest.raises(InvalidPublicKeyError, match=f"has {digits} hex digits"):
            parse_public_key("0x" + "a" * digits)

    @pytest.mark.parametrize(
        "raw",
        [
            bytes(32),  # not canonical: y = 0 gives a point of order 4
            b"\x01" + bytes(31),  # the identity point
            bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        ],
    )
    def test_low_order_points(self, raw: bytes) -> None:
        """Low-order and non-canonical points are rejected by parse and by the constructor."""
        with pytest.raises(InvalidPublicKeyError, match="not a valid Ed25519 point"):
            parse_public_key(raw.hex())
        with pytest.raises(InvalidPublicKeyError, match="not a valid Ed25519 point"):
            PublicKey(raw)

    @given(invalid_point_bytes)
    def test_invalid_points(self, raw: bytes) -> None:
        """32 bytes that are not a valid point are rejected in hex and base64."""
        for text in (raw.hex(), base64.b64encode(raw).decode()):
            with pytest.raises(InvalidPublicKeyError, match="not a valid Ed25519 point"):
                parse_public_key(text)

    def test_long_text_quoted_briefly(self) -> None:
        """A very long input is cut in the message rather than repeated whole."""
        text = "z" * 10_000

        with pytest.raises(InvalidPublicKeyError) as caught:
            parse_public_key(text)

        assert len(str(caught.value)) < 400
        assert "10000 characters" in str(caught.value)

    def test_not_str(self) -> None:
        """Bytes are a type error, not a parse error."""
        with pytest.raises(TypeError, match="must be str, not bytes"):
            parse_public_key(bytes.fromhex(RFC8032_HEX))  # type: ignore[arg-type]


class TestPublicKey:
    def test_constructor_length(self) -> None:
        """PublicKey takes exactly 32 bytes."""
        with pytest.raises(InvalidPublicKeyError, match="31 bytes long"):
            PublicKey(bytes.fromhex(RFC8032_HEX)[:31])

    def test_constructor_type(self) -> None:
        """PublicKey refuses text; parse_public_key is for text."""
        with pytest.raises(TypeError, match="must be bytes"):
            PublicKey(RFC8032_HEX)  # type: ignore[arg-type]

    def test_text_forms(self) -> None:
        """hex, str() and short derive from the bytes."""
        key = parse_public_key(RFC8032_BASE64)

        assert key.hex == RFC8032_HEX
        assert str(key) == RFC8032_HEX
        assert key.short == "d75a9801"
        assert repr(key) == f"PublicKey('{RFC8032_HEX}')"

    def test_frozen(self) -> None:
        """A key cannot be changed after construction."""
        key = parse_public_key(RFC8032_HEX)

        with pytest.raises(AttributeError):
            key.raw = b"x"  # type: ignore[misc]

    def test_set_of_spellings(self) -> None:
        """A set of one key in every spelling holds one identity."""
        keys = {parse_public_key(text) for text in (RFC8032_HEX, RFC8032_BASE64URL)}

        assert len(keys) == 1
