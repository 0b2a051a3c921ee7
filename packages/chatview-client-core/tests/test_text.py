"""Local message text checks agree with the server's rules."""

from __future__ import annotations

import pytest
from hypothesis import given

from chatview_client import InvalidMessageError
from chatview_client._text import check_message_text

from .strategies import message_texts


class TestCheckMessageText:
    @given(message_texts)
    def test_accepts_text(self, text: str) -> None:
        """Non-blank text without lone surrogates passes unchanged."""
        assert text == check_message_text(text, max_chars=4000)

    def test_limit_in_code_points(self) -> None:
        """The limit counts code points: 4000 CJK characters or emoji are accepted."""
        assert check_message_text("中" * 4000, max_chars=4000)
        assert check_message_text("😀" * 4000, max_chars=4000)

    def test_over_limit(self) -> None:
        """One character over the limit is refused, naming both numbers."""
        with pytest.raises(
            InvalidMessageError, match=r"^message text is 4001 characters long; the limit is 4000"
        ):
            check_message_text("中" * 4001, max_chars=4000)

    @pytest.mark.parametrize("text", ["", "   ", "\n\t"])
    def test_blank(self, text: str) -> None:
        """Empty or whitespace-only text is refused."""
        with pytest.raises(InvalidMessageError, match=r"^message text is empty or only whitespace"):
            check_message_text(text, max_chars=10)

    def test_lone_surrogate(self) -> None:
        """A lone surrogate is refused before it can reach the outbox."""
        with pytest.raises(InvalidMessageError, match=r"lone surrogate \(U\+D83D\) at position 4"):
            check_message_text("bad \ud83d end", max_chars=100)
