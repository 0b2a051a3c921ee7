"""The messages server processes exchange, and their encoding on the wire.

A message is one compact JSON object in ASCII, so it can travel as a PostgreSQL
NOTIFY payload (which must be text) and as a NATS message alike. The event inside is
the codec's bytes in base64. Keys are short because NOTIFY allows fewer than 8000
bytes per payload::

    {"v": 1, "k": "publish", "o": "<origin process id>", "n": 17,
     "u": ["<user>", ...], "xc": "<connection id>", "xs": "<session id>",
     "e": "<base64 event>"}

``n`` numbers the messages of one origin. Besides helping a reader of the logs, it
keeps two identical messages in one PostgreSQL transaction distinct: PostgreSQL
folds identical notifications of one transaction into one.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from typing import Any

import attrs

__all__ = ["WIRE_VERSION", "Kind", "Message", "WireFormatError"]

WIRE_VERSION = 1
"""Bumped on any change a process of the previous version would misread."""


class WireFormatError(ValueError):
    """A message that is not valid JSON or lacks a field its kind needs."""


class Kind(enum.StrEnum):
    """What a message asks the receiving processes to do."""

    PUBLISH = "publish"
    """Deliver ``event`` to the connections of ``users``, less the excluded."""

    BROADCAST = "broadcast"
    """Deliver ``event`` to every connection."""

    ADMINS = "admins"
    """Deliver ``event`` to every admin connection."""

    CLOSE_USER = "close_user"
    """End the connections of ``users[0]`` with ``reason``, ``event`` queued last."""

    CLOSE_SESSION = "close_session"
    """End the connections of ``session_id`` with ``reason``, ``event`` queued last."""

    PRESENCE = "presence"
    """``users[0]`` went online or offline cluster-wide; ``version`` orders the changes."""

    CATCH_UP = "catch_up"
    """The origin lost messages: end every local connection so clients catch up."""

    REFERENCE = "ref"
    """The real message was too large: read it from the payload table by ``payload_id``."""


@attrs.frozen
class Message:
    """One message between processes. Which fields are set depends on ``kind``."""

    kind: Kind
    origin: str
    number: int
    users: tuple[str, ...] = ()
    event: bytes | None = None
    exclude_connection: str | None = None
    exclude_session: str | None = None
    session_id: str | None = None
    reason: str | None = None
    online: bool | None = None
    version: int | None = None
    payload_id: int | None = None

    def to_bytes(self) -> bytes:
        """Encode the message as compact ASCII JSON."""
        fields: dict[str, Any] = {"v": WIRE_VERSION, "k": str(self.kind), "o": self.origin}
        fields["n"] = self.number
        if self.users:
            fields["u"] = list(self.users)
        if self.event is not None:
            fields["e"] = base64.b64encode(self.event).decode("ascii")
        optional = {
            "xc": self.exclude_connection,
            "xs": self.exclude_session,
            "s": self.session_id,
            "r": self.reason,
            "on": self.online,
            "ver": self.version,
            "p": self.payload_id,
        }
        fields.update((key, value) for key, value in optional.items() if value is not None)
        return json.dumps(fields, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Message:
        """Decode a message made by ``to_bytes``.

        Raises:
            WireFormatError: ``data`` is not such a message, or comes from a process
                speaking another wire version.
        """
        try:
            fields = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            msg = f"a hub message is not valid JSON ({exc}); is another program using the channel?"
            raise WireFormatError(msg) from None
        if not isinstance(fields, dict):
            msg = f"a hub message is a JSON {type(fields).__name__}, expected an object"
            raise WireFormatError(msg)
        version = fields.get("v")
        if version != WIRE_VERSION:
            msg = (
                f"a hub message has wire version {version!r}, this process speaks "
                f"{WIRE_VERSION}; run one version of chatview-hub in every process"
            )
            raise WireFormatError(msg)

        try:
            kind = Kind(_typed(fields, "k", str, required=True))
        except ValueError:
            msg = f"a hub message has the unknown kind {fields.get('k')!r}"
            raise WireFormatError(msg) from None
        users = _typed(fields, "u", list, required=False) or []
        if not all(isinstance(user, str) for user in users):
            msg = "a hub message lists a user that is not a string"
            raise WireFormatError(msg)
        encoded_event = _typed(fields, "e", str, required=False)
        try:
            event = (
                None if encoded_event is None else base64.b64decode(encoded_event, validate=True)
            )
        except binascii.Error:
            msg = "a hub message carries an event that is not valid base64"
            raise WireFormatError(msg) from None

        message = cls(
            kind=kind,
            origin=_typed(fields, "o", str, required=True),
            number=_typed(fields, "n", int, required=True),
            users=tuple(users),
            event=event,
            exclude_connection=_typed(fields, "xc", str, required=False),
            exclude_session=_typed(fields, "xs", str, required=False),
            session_id=_typed(fields, "s", str, required=False),
            reason=_typed(fields, "r", str, required=False),
            online=_typed(fields, "on", bool, required=False),
            version=_typed(fields, "ver", int, required=False),
            payload_id=_typed(fields, "p", int, required=False),
        )
        message._check_complete()
        return message

    def _check_complete(self) -> None:
        missing: str | None = None
        if self.kind in (Kind.PUBLISH, Kind.BROADCAST, Kind.ADMINS) and self.event is None:
            missing = "event"
        elif self.kind in (Kind.CLOSE_USER, Kind.PRESENCE) and len(self.users) != 1:
            missing = "exactly one user"
        elif self.kind in (Kind.CLOSE_USER, Kind.CLOSE_SESSION) and self.reason is None:
            missing = "reason"
        elif self.kind is Kind.CLOSE_SESSION and self.session_id is None:
            missing = "session id"
        elif self.kind is Kind.PRESENCE and (self.online is None or self.version is None):
            missing = "online flag and version"
        elif self.kind is Kind.REFERENCE and self.payload_id is None:
            missing = "payload id"
        if missing is not None:
            msg = f"a hub message of kind {str(self.kind)!r} lacks its {missing}"
            raise WireFormatError(msg)


def _typed(fields: dict[str, Any], key: str, kind: type[Any], *, required: bool) -> Any:
    value = fields.get(key)
    if value is None:
        if required:
            msg = f"a hub message lacks the field {key!r}"
            raise WireFormatError(msg)
        return None
    # bool is a subclass of int, and a flag is never a valid number here.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        msg = f"a hub message's field {key!r} is a {type(value).__name__}, expected {kind.__name__}"
        raise WireFormatError(msg)
    return value
