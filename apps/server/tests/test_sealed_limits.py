"""The server's checks of sealed bodies: size limit and empty text, without a database."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatview_identity import SEALED_OVERHEAD_BYTES, KeyPair, seal_message
from chatview_server._sealed import check_sealed_body, max_sealed_body_bytes
from chatview_server._status import RpcError

ALICE = KeyPair.from_seed(bytes(32))
BOB = KeyPair.from_seed(bytes(range(32)))
MAX_CHARS = 50
# Any code point but lone surrogates; 4-byte ones are the worst case of UTF-8.
texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=MAX_CHARS)


class TestSealedLimit:
    def test_default_limit(self) -> None:
        """4,000 characters allow 16,512 bytes."""
        assert 16_512 == max_sealed_body_bytes(4000)

    @given(text=texts)
    def test_full_text_fits(self, text: str) -> None:
        """Any text within the character limit, sealed with a 64-byte id, is accepted."""
        sealed = seal_message(ALICE, BOB.public_key, text, client_message_id="x" * 64)

        check_sealed_body(sealed, "", MAX_CHARS)

    def test_overhead_within_slack(self) -> None:
        """The format's overhead with the longest bound id fits in the slack."""
        assert SEALED_OVERHEAD_BYTES + 255 <= max_sealed_body_bytes(0)

    def test_oversize_rejected(self) -> None:
        """One byte over the limit is INVALID_ARGUMENT naming the limit."""
        oversize = bytes(max_sealed_body_bytes(MAX_CHARS) + 1)

        with pytest.raises(RpcError, match=r"^invalid sealed_body: it is 713 bytes") as caught:
            check_sealed_body(oversize, "", MAX_CHARS)
        assert grpc.StatusCode.INVALID_ARGUMENT == caught.value.code

    def test_text_beside_rejected(self) -> None:
        """Plaintext next to a sealed body is INVALID_ARGUMENT."""
        with pytest.raises(RpcError, match=r"^invalid text: a message with sealed_body"):
            check_sealed_body(b"\x01", "oops", MAX_CHARS)
