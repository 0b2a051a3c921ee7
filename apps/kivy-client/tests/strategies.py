"""Hypothesis strategies for chat text: CJK, emoji sequences, accents, newlines."""

from __future__ import annotations

from hypothesis import strategies as st

# Pieces that break naive truncation: multi-code-point graphemes of each kind.
TRICKY_CLUSTERS = (
    "👨\u200d👩\u200d👧\u200d👦",  # ZWJ family
    "🇨🇳",  # flag: two regional indicators
    "e\u0301",  # NFD é
    "👍🏻",  # skin tone
    "❤️",  # VS16
    "中",
    "𠮷",  # outside the BMP
    "\r\n",
)

chat_text = st.lists(
    st.one_of(
        st.sampled_from(TRICKY_CLUSTERS),
        st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=3),
    ),
    max_size=60,
).map("".join)
"""Text a person could type or paste: mixed scripts, emoji, accents, line breaks."""
