"""The messages between processes: encoding round trips and refusal of bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatview_hub._wire import Kind, Message, WireFormatError

USERS = st.text("0123456789abcdef", min_size=64, max_size=64)
IDS = st.text(min_size=1, max_size=40)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """Valid messages of every kind, with the fields each kind needs."""
    kind = draw(st.sampled_from(Kind))
    fields: dict[str, object] = {}
    if kind in (Kind.PUBLISH, Kind.BROADCAST, Kind.ADMINS):
        fields["event"] = draw(st.binary(max_size=200))
    if kind is Kind.PUBLISH:
        fields["users"] = tuple(draw(st.lists(USERS, min_size=1, max_size=5)))
        fields["exclude_connection"] = draw(st.none() | IDS)
        fields["exclude_session"] = draw(st.none() | IDS)
    if kind in (Kind.CLOSE_USER, Kind.PRESENCE):
        fields["users"] = (draw(USERS),)
    if kind in (Kind.CLOSE_USER, Kind.CLOSE_SESSION):
        fields["reason"] = draw(IDS)
        fields["event"] = draw(st.none() | st.binary(max_size=50))
    if kind is Kind.CLOSE_SESSION:
        fields["session_id"] = draw(IDS)
    if kind is Kind.PRESENCE:
        fields["online"] = draw(st.booleans())
        fields["version"] = draw(st.integers(1, 2**62))
    if kind is Kind.REFERENCE:
        fields["payload_id"] = draw(st.integers(1, 2**62))
    return Message(kind, draw(IDS), draw(st.integers(1, 2**62)), **fields)  # type: ignore[arg-type]


class TestMessage:
    @given(message=messages())
    def test_round_trip(self, message: Message) -> None:
        """Decoding an encoded message gives it back."""
        assert message == Message.from_bytes(message.to_bytes())

    @given(message=messages())
    def test_ascii(self, message: Message) -> None:
        """Encoded messages are ASCII, as a NOTIFY payload must be text."""
        message.to_bytes().decode("ascii")

    def test_identical_events_stay_distinct(self) -> None:
        """Two publishes of one event differ on the wire by their number."""
        first = Message(Kind.BROADCAST, "p", 1, event=b"x")
        second = Message(Kind.BROADCAST, "p", 2, event=b"x")

        assert first.to_bytes() != second.to_bytes()

    @pytest.mark.parametrize(
        ("data", "match"),
        [
            (b"not json", r"^a hub message is not valid JSON"),
            (b"[1]", r"^a hub message is a JSON list, expected an object$"),
            (b'{"v":2}', r"^a hub message has wire version 2, this process speaks 1"),
            (b'{"v":1,"k":"dance","o":"p","n":1}', r"^a hub message has the unknown kind 'dance'$"),
            (b'{"v":1,"k":"broadcast","o":"p"}', r"^a hub message lacks the field 'n'$"),
            (
                b'{"v":1,"k":"broadcast","o":"p","n":true,"e":""}',
                r"^a hub message's field 'n' is a bool, expected int$",
            ),
            (b'{"v":1,"k":"broadcast","o":"p","n":1}', r"^a hub message of kind 'broadcast' lacks"),
            (
                b'{"v":1,"k":"broadcast","o":"p","n":1,"e":"*"}',
                r"^a hub message carries an event that is not valid base64$",
            ),
            (
                b'{"v":1,"k":"publish","o":"p","n":1,"u":[1],"e":""}',
                r"^a hub message lists a user that is not a string$",
            ),
            (
                b'{"v":1,"k":"close_session","o":"p","n":1,"r":"x"}',
                r"^a hub message of kind 'close_session' lacks its session id$",
            ),
        ],
    )
    def test_bad_input_refused(self, data: bytes, match: str) -> None:
        """Anything but a complete message of this wire version raises ``WireFormatError``."""
        with pytest.raises(WireFormatError, match=match):
            Message.from_bytes(data)

    def test_short_keys(self) -> None:
        """The encoding uses the short keys that keep NOTIFY payloads small."""
        message = Message(Kind.PUBLISH, "p", 7, users=("u",), event=b"", exclude_session="s")

        assert {"v": 1, "k": "publish", "o": "p", "n": 7, "u": ["u"], "e": "", "xs": "s"} == (
            json.loads(message.to_bytes())
        )
