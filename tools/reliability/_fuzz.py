"""Bad input: property-based fuzzing of every RPC with hypothesis.

For each RPC of the wire contract, hypothesis draws requests whose every field holds
random or hostile values (huge and empty strings, control and zero-width characters,
mixed scripts, keys in wrong encodings and lengths, negative and huge numbers, unknown
enum values, oversize messages), plus a share of raw, malformed request bytes, and an
authorization header that is valid, missing or garbage. Each call must end in a
precise status: never INTERNAL or UNKNOWN. After every call that did not succeed, a
digest of the stored data must equal the digest taken after the last successful
call, so a rejected call changed nothing. At the end the server must still serve.

Hypothesis only generates here (no shrinking): every call is made once and counted;
a failing request is printed with its method and how to replay it.
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg
import attrs
import grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chatview_identity import KeyPair, sign_challenge
from chatview_proto import admin_pb2, auth_pb2, chat_pb2, events_pb2
from chatview_server.testing import ServerProcess

from ._common import Report
from ._postgres import RestartablePostgres, libpq_dsn

__all__ = ["FuzzPlan", "run_fuzz"]

# Rows a rejected call must leave alone. Challenges and sessions are left out: asking
# for a challenge and logging out are allowed to write even when a later step fails.
_DIGEST_SQL = """
SELECT md5(concat_ws('|',
  (SELECT string_agg(t::text, ',' ORDER BY t::text)
     FROM (SELECT public_key, role, status, supports_sealed FROM users) t),
  (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM friendships t),
  (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM conversations t),
  (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM conversation_members t),
  (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM messages t),
  (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM broadcasts t)))
"""

_FORBIDDEN = frozenset({"INTERNAL", "UNKNOWN"})


@attrs.frozen(kw_only=True)
class FuzzPlan:
    """Number of calls; the default is the full-size run (``--long``)."""

    calls: int = 10_400
    # Hypothesis draws floats near 0 often, so the real share comes out higher.
    raw_share: float = 0.1
    call_timeout: float = 10.0


# --- hostile values ---------------------------------------------------------------------

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_SCRIPTS = [
    "hello",
    "привет",
    "你好",
    "مرحبا",
    "שלום",
    "नमस्ते",
    "こんにちは",
    "🙂👍🏽",
    "e\u0301",
    "\u202eevil",
]


def _big(chars: str, sizes: list[int]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(list(chars)), st.sampled_from(sizes)).map(
        lambda t: t[0] * t[1]
    )


def hostile_text() -> st.SearchStrategy[str]:
    """Strings a careless server would choke on; one in 25 is above the 1 MiB limit."""
    usual = st.one_of(
        st.just(""),
        st.text(max_size=40),
        st.text(st.characters(categories=("Cc", "Cf", "Zs", "Zl", "Zp")), max_size=20),
        st.text(st.sampled_from(list(_ZERO_WIDTH)), min_size=1, max_size=20),
        st.lists(st.sampled_from(_SCRIPTS), min_size=1, max_size=6).map("".join),
        st.sampled_from(
            ["\x00", "a\x00b", " ", "\n\t", "'; DROP TABLE messages; --", "%s%n", "{}", "\\"]
        ),
        _big("a€\u200b\x00你", [3999, 4000, 4001, 65_536, 300_000]),
    )
    oversize = _big("ab", [1_100_000])
    return st.integers(0, 24).flatmap(lambda n: oversize if n == 0 else usual)


def key_text(known: list[KeyPair]) -> st.SearchStrategy[str]:
    """Public keys: valid ones, the same keys in odd encodings, and wrong ones."""
    raw = [pair.public_key.hex for pair in known]
    raw_bytes = [bytes.fromhex(key) for key in raw]
    return st.one_of(
        st.sampled_from(raw),
        st.sampled_from(raw).map(str.upper),
        st.sampled_from(raw_bytes).map(lambda b: base64.b64encode(b).decode()),
        st.sampled_from(raw_bytes).map(lambda b: base64.b64encode(b).decode().rstrip("=")),
        st.sampled_from(raw_bytes).map(lambda b: base64.urlsafe_b64encode(b).decode()),
        st.sampled_from(raw).map(lambda k: f" {k} "),
        st.sampled_from(raw).map(lambda k: k[:-1]),
        st.sampled_from(raw).map(lambda k: k + "0"),
        st.binary(min_size=32, max_size=32).map(bytes.hex),  # a stranger
        st.binary(min_size=0, max_size=64).map(bytes.hex),
        st.binary(min_size=0, max_size=48).map(lambda b: base64.b64encode(b).decode()),
        st.binary(min_size=1, max_size=64).map(lambda b: b.decode("latin-1")),
        st.text(st.sampled_from("０１２３４５６７８９ａｂｃｄｅｆ٠١٢"), min_size=64, max_size=64),
        hostile_text(),
    )


def int64() -> st.SearchStrategy[int]:
    edges = [0, -1, 1, 2**31 - 1, -(2**31), 2**31, 2**53 + 1, 2**63 - 1, -(2**63)]
    return st.one_of(st.sampled_from(edges), st.integers(-(2**63), 2**63 - 1), st.integers(-5, 200))


def int32() -> st.SearchStrategy[int]:
    edges = [0, -1, 1, 100, 101, 1000, 2**31 - 1, -(2**31)]
    return st.one_of(st.sampled_from(edges), st.integers(-(2**31), 2**31 - 1), st.integers(-5, 200))


def hostile_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=128),
        st.binary(min_size=64, max_size=64),
        st.sampled_from([b"", b"\x00" * 64, os.urandom(70_000)]),
        st.integers(0, 24).map(lambda n: b"\xff" * (1_100_000 if n == 0 else 65)),
    )


def ids() -> st.SearchStrategy[str]:
    return st.one_of(
        st.uuids().map(str),
        st.uuids().map(lambda u: str(u).upper()),
        st.uuids().map(lambda u: u.hex),
        hostile_text(),
    )


def cursors() -> st.SearchStrategy[str]:
    return st.one_of(
        int64().map(str),
        st.sampled_from(["", "0", "-0", "+5", "1e3", "0x10", " 7", "٣", "99999999999999999999999"]),
        hostile_text(),
    )


# --- the RPCs ---------------------------------------------------------------------------


@attrs.frozen
class _Rpc:
    path: str
    request: Callable[[list[KeyPair]], st.SearchStrategy[Any]]
    response_type: Any
    streaming: bool = False
    admin: bool = False


def _rpcs() -> list[_Rpc]:
    text = hostile_text()
    return [
        _Rpc(
            "/chatview.auth.AuthService/RequestChallenge",
            lambda k: st.builds(auth_pb2.RequestChallengeReq, public_key=key_text(k)),
            auth_pb2.RequestChallengeResp,
        ),
        _Rpc(
            "/chatview.auth.AuthService/Login",
            lambda k: st.builds(
                auth_pb2.LoginReq,
                public_key=key_text(k),
                challenge_signature=hostile_bytes(),
                client_id=text,
                capabilities=st.lists(text, max_size=4),
            ),
            auth_pb2.LoginResp,
        ),
        _Rpc(
            "/chatview.auth.AuthService/Logout",
            lambda k: st.just(auth_pb2.LogoutReq()),
            auth_pb2.LogoutResp,
        ),
        _Rpc(
            "/chatview.chat.ChatService/ListFriends",
            lambda k: st.just(chat_pb2.ListFriendsReq()),
            chat_pb2.ListFriendsResp,
        ),
        _Rpc(
            "/chatview.chat.ChatService/AddFriend",
            lambda k: st.builds(chat_pb2.AddFriendReq, target_public_key=key_text(k), alias=text),
            chat_pb2.AddFriendResp,
        ),
        _Rpc(
            "/chatview.chat.ChatService/SendMessage",
            lambda k: st.builds(
                chat_pb2.SendMessageReq,
                receiver_public_key=key_text(k),
                text=text,
                client_message_id=ids(),
                sealed_body=st.one_of(st.just(b""), hostile_bytes()),
            ),
            chat_pb2.SendMessageResp,
        ),
        _Rpc(
            "/chatview.chat.ChatService/GetMessageHistory",
            lambda k: st.builds(
                chat_pb2.GetMessageHistoryReq,
                peer_public_key=key_text(k),
                cursor=cursors(),
                limit=int32(),
                direction=st.one_of(
                    st.sampled_from(["", "older", "newer", "OLDER", "sideways"]), text
                ),
            ),
            chat_pb2.GetMessageHistoryResp,
        ),
        _Rpc(
            "/chatview.chat.ChatService/MarkConversationRead",
            lambda k: st.builds(
                chat_pb2.MarkConversationReadReq,
                peer_public_key=key_text(k),
                last_read_server_seq=int64(),
            ),
            chat_pb2.MarkConversationReadResp,
        ),
        _Rpc(
            "/chatview.chat.ChatService/ListChangedConversations",
            lambda k: st.builds(chat_pb2.ListChangedConversationsReq, since=int64(), limit=int32()),
            chat_pb2.ListChangedConversationsResp,
        ),
        _Rpc(
            "/chatview.events.EventService/Subscribe",
            lambda k: st.builds(
                events_pb2.SubscribeReq,
                client_id=text,
                broadcasts_after=st.one_of(st.none(), int64()),
            ),
            events_pb2.ServerEvent,
            streaming=True,
        ),
        _Rpc(
            "/chatview.admin.AdminService/SetUserStatus",
            lambda k: st.builds(
                admin_pb2.SetUserStatusReq, target_public_key=key_text(k), status=int32()
            ),
            admin_pb2.SetUserStatusResp,
            admin=True,
        ),
        _Rpc(
            "/chatview.admin.AdminService/Broadcast",
            lambda k: st.builds(admin_pb2.BroadcastReq, text=text, expires_in_seconds=int64()),
            admin_pb2.BroadcastResp,
            admin=True,
        ),
        _Rpc(
            "/chatview.admin.AdminService/PollAdminEvents",
            lambda k: st.just(admin_pb2.PollAdminEventsReq()),
            admin_pb2.PollAdminEventsResp,
            admin=True,
        ),
    ]


# --- running ----------------------------------------------------------------------------


class _Session:
    """A key with a current session token, logged in again when a fuzzed Logout ends it."""

    def __init__(self, channel: grpc.Channel, keypair: KeyPair) -> None:
        self.keypair = keypair
        self._challenge = channel.unary_unary(
            "/chatview.auth.AuthService/RequestChallenge",
            request_serializer=auth_pb2.RequestChallengeReq.SerializeToString,
            response_deserializer=auth_pb2.RequestChallengeResp.FromString,
        )
        self._login = channel.unary_unary(
            "/chatview.auth.AuthService/Login",
            request_serializer=auth_pb2.LoginReq.SerializeToString,
            response_deserializer=auth_pb2.LoginResp.FromString,
        )
        self.token = ""

    def login(self) -> None:
        key = self.keypair.public_key.hex
        challenge = self._challenge(auth_pb2.RequestChallengeReq(public_key=key), timeout=10)
        reply = self._login(
            auth_pb2.LoginReq(
                public_key=key,
                challenge_signature=sign_challenge(self.keypair, challenge.challenge),
                client_id="fuzz",
            ),
            timeout=10,
        )
        self.token = reply.session_token


def _auth_choices() -> st.SearchStrategy[str]:
    printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80)
    return st.one_of(
        st.just("owner"),
        st.just("owner"),
        st.just("owner"),
        st.just("none"),
        printable.map(lambda t: "Bearer " + t),
        st.sampled_from(["Bearer ", "Basic dXNlcjpwYXNz", "bearer", "Bearer " + "A" * 7000]),
    )


@attrs.define
class _Outcome:
    statuses: Counter[str] = attrs.Factory(Counter)
    per_rpc: dict[str, Counter[str]] = attrs.Factory(lambda: defaultdict(Counter))
    forbidden: list[str] = attrs.Factory(list)
    changed: list[str] = attrs.Factory(list)
    client_refused: int = 0
    calls: int = 0
    raw_calls: int = 0


def _status_of(exc: grpc.RpcError) -> tuple[str, str]:
    """Return the status code's name and the details of a failed call."""
    # The errors grpc raises are also `grpc.Call`s, which carry the status; the typing
    # stubs cannot express that subclass, so the methods are looked up.
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    if callable(code) and callable(details):
        return str(code().name), str(details() or "")
    return "UNKNOWN (no status)", str(exc)


def _describe(message: Any) -> str:
    text = repr(message) if isinstance(message, bytes) else str(message).replace("\n", " ")
    return text if len(text) <= 300 else text[:300] + f"... ({len(text)} chars)"


class _Fuzzer:
    """Makes the calls of one run and keeps the outcome; synchronous, in one thread."""

    def __init__(self, channel: grpc.Channel, dsn: str, plan: FuzzPlan) -> None:
        self.channel = channel
        self.plan = plan
        self.outcome = _Outcome()
        self._loop = asyncio.new_event_loop()
        self._connection = self._loop.run_until_complete(asyncpg.connect(libpq_dsn(dsn)))
        self._baseline = self.digest()

    def close(self) -> None:
        self._loop.run_until_complete(self._connection.close())
        self._loop.close()

    def digest(self) -> str:
        return str(self._loop.run_until_complete(self._connection.fetchval(_DIGEST_SQL)))

    def fuzz(self, rpc: _Rpc, owner: _Session, pool: list[KeyPair], examples: int) -> None:
        """Make `examples` hypothesis-drawn calls of `rpc`, authorized as `owner` mostly."""
        kind = self.channel.unary_stream if rpc.streaming else self.channel.unary_unary
        typed: Any = kind(
            rpc.path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=rpc.response_type.FromString,
        )
        raw: Any = kind(rpc.path)

        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            request=rpc.request(pool),
            auth=_auth_choices(),
            mangle=st.one_of(
                st.none(),
                st.binary(max_size=64),
                st.sampled_from([b"\xff", b"\x0a\xff\xff\xff\xff\x0f"]),
            ),
            raw_draw=st.floats(0, 1),
        )
        def fuzz_one(request: Any, auth: str, mangle: bytes | None, raw_draw: float) -> None:
            if auth == "owner":
                metadata: tuple[tuple[str, str], ...] = (
                    ("authorization", f"Bearer {owner.token}"),
                )
            elif auth == "none":
                metadata = ()
            else:
                metadata = (("authorization", auth),)
            payload: Any = request
            call = typed
            if raw_draw < self.plan.raw_share:
                payload = request.SerializeToString() + (mangle or b"\x08")
                call = raw
                self.outcome.raw_calls += 1
            self._call(rpc, call, payload, metadata, auth, owner)

        fuzz_one()

    def _call(
        self,
        rpc: _Rpc,
        call: Any,
        payload: Any,
        metadata: tuple[tuple[str, str], ...],
        auth: str,
        owner: _Session,
    ) -> None:
        name = rpc.path.rsplit("/", 1)[1]
        status = "OK"
        details = ""
        try:
            if rpc.streaming:
                status = self._open_stream(call, payload, metadata)
            else:
                call(payload, metadata=metadata, timeout=self.plan.call_timeout)
        except grpc.RpcError as exc:
            status, details = _status_of(exc)
        except (ValueError, TypeError):
            # grpc refused to send it (e.g. metadata it cannot encode).
            self.outcome.client_refused += 1
            return

        outcome = self.outcome
        outcome.calls += 1
        outcome.statuses[status] += 1
        outcome.per_rpc[name][status] += 1
        shown = _describe(payload)
        if status in _FORBIDDEN:
            outcome.forbidden.append(f"{name} [{auth[:20]}] {status} {details[:160]!r}: {shown}")
        if status.startswith("OK"):
            self._baseline = self.digest()
            if name == "Logout" and auth == "owner":
                owner.login()
        elif (now := self.digest()) != self._baseline:
            outcome.changed.append(f"{name} [{auth[:20]}] {status}: {shown}")
            self._baseline = now

    def _open_stream(self, call: Any, payload: Any, metadata: tuple[tuple[str, str], ...]) -> str:
        # The server sends headers once the stream is registered, and a refusal as a
        # trailers-only reply, which also ends the call.
        stream = call(payload, metadata=metadata, timeout=self.plan.call_timeout)
        stream.initial_metadata()
        time.sleep(0.01)
        if stream.done():
            # Iterating a finished call raises its error status.
            for _event in stream:
                pass
            return "OK (stream ended)"
        stream.cancel()
        return "OK (stream opened)"


def _fuzz_sync(
    address: str, dsn: str, user: KeyPair, admin: KeyPair, peer: KeyPair, plan: FuzzPlan
) -> _Outcome:
    # The ban target pool leaves out the callers, so a fuzzed ban cannot lock them out.
    known = [user, admin, peer]
    targets = [peer, KeyPair.generate()]
    options = [
        ("grpc.max_send_message_length", 8 * 2**20),
        ("grpc.max_receive_message_length", 8 * 2**20),
    ]
    with grpc.insecure_channel(address, options=options) as channel:
        sessions = {"user": _Session(channel, user), "admin": _Session(channel, admin)}
        for session in sessions.values():
            session.login()
        fuzzer = _Fuzzer(channel, dsn, plan)
        try:
            rpcs = _rpcs()
            examples = math.ceil(plan.calls / len(rpcs))
            for rpc in rpcs:
                owner = sessions["admin" if rpc.admin else "user"]
                pool = targets if rpc.path.endswith("/SetUserStatus") else known
                fuzzer.fuzz(rpc, owner, pool, examples)
        finally:
            fuzzer.close()
    return fuzzer.outcome


async def run_fuzz(postgres: RestartablePostgres, plan: FuzzPlan) -> Report:
    """Fuzz every RPC and return the report with the status-code histogram."""
    report = Report(f"fuzz ({plan.calls} calls planned)")
    started = time.monotonic()
    dsn = await postgres.create_database()
    user, admin, peer = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    config = {
        "admin_pub_key": admin.public_key.hex,
        # Rate limits would reject most calls before validation, which is what is tested.
        "login_rate_per_minute": 1_000_000,
        "send_rate_per_second": 1_000_000,
        "send_burst": 10_000,
    }
    async with ServerProcess(dsn=dsn, config=config, startup_timeout=120) as server:
        # The peer exists as a user, so valid-key calls reach the deeper paths.
        await asyncio.to_thread(
            lambda: _Session(grpc.insecure_channel(server.address), peer).login()
        )
        outcome = await asyncio.to_thread(_fuzz_sync, server.address, dsn, user, admin, peer, plan)
        alive = server.is_running
        still_serving = "no"
        if alive:
            try:
                session = _Session(grpc.insecure_channel(server.address), user)
                await asyncio.to_thread(session.login)
                still_serving = "yes"
            except grpc.RpcError as exc:
                still_serving = f"no ({_status_of(exc)[0]})"
        errors = [
            line
            for line in server.log_text().splitlines()
            if '"level": "error"' in line or "Traceback" in line
        ]

    report.figures.update(
        {
            "calls made": outcome.calls,
            "of which malformed request bytes": outcome.raw_calls,
            "refused by the grpc client before sending": outcome.client_refused,
            "status histogram": ", ".join(f"{k}={v}" for k, v in outcome.statuses.most_common()),
            "server alive and serving after": still_serving,
            "server log error lines": len(errors),
        }
    )
    for name, counts in outcome.per_rpc.items():
        report.figures[f"  {name}"] = ", ".join(f"{k}={v}" for k, v in counts.most_common())
    if outcome.forbidden:
        report.fail(f"{len(outcome.forbidden)} calls ended in INTERNAL or UNKNOWN; first ones:")
        report.failures.extend("  " + line for line in outcome.forbidden[:8])
    if outcome.changed:
        report.fail(f"{len(outcome.changed)} rejected calls changed stored data; first ones:")
        report.failures.extend("  " + line for line in outcome.changed[:8])
    if still_serving != "yes":
        report.fail(f"the server does not serve after fuzzing: {still_serving}")
    if errors:
        report.notes.extend("server log: " + line[:400] for line in errors[:5])
    report.seconds = time.monotonic() - started
    return report
