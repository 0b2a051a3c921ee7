"""End-to-end flows against a real server process and PostgreSQL, through the generated stubs."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

import grpc
import pytest

from chatview_identity import KeyPair, sign_challenge
from chatview_proto import admin_pb2, auth_pb2, chat_pb2
from chatview_proto.common import types_pb2
from chatview_server.testing import ProtocolClient, wait_for_event

ClientFactory = Callable[..., Awaitable[ProtocolClient]]

# RFC 8032 test 1: a published test vector, so its secret key is no secret.
RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


async def expect_status(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """Await `call` and return its error, failing unless the status is `code`."""
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call  # type: ignore[misc]
    assert code == failure.value.code(), failure.value.details()
    return failure.value


async def assert_quiet(stream: object, seconds: float = 0.5) -> None:
    """Fail if `stream` delivers an event within `seconds`."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            await stream.read()  # type: ignore[attr-defined]


class TestTwoUsers:
    async def test_conversation(self, connect: ClientFactory) -> None:
        """Challenge, login, add, send, live event, history both ways, read cursor, logout."""
        alice, bob = await connect(), await connect()
        bob_stream = await bob.subscribe("b1")

        await alice.add_friend(bob.key, "bob")
        sent = await alice.send(bob.key, "你好 Bob 👋", client_message_id="m-1")
        event = await wait_for_event(bob_stream, "new_message")

        assert 1 == sent.server_seq
        assert not sent.deduplicated
        message = event.new_message.message
        assert alice.key == event.new_message.from_public_key
        assert alice.key == event.new_message.peer_public_key
        assert 1 == event.new_message.count
        assert sent.message_id == message.id
        assert "你好 Bob 👋" == message.text
        assert alice.key == message.sender_public_key
        assert bob.key == message.receiver_public_key
        assert types_pb2.MESSAGE_DELIVERY_INCOMING == message.delivery
        assert "" == message.client_message_id
        assert sent.timestamp == message.timestamp

        await bob.send(alice.key, "hi Alice")
        alice_page = (await alice.history(bob.key)).page
        bob_page = (await bob.history(alice.key)).page
        assert [1, 2] == [m.server_seq for m in alice_page.messages]
        assert [1, 2] == [m.server_seq for m in bob_page.messages]
        assert [types_pb2.MESSAGE_DELIVERY_SENT, types_pb2.MESSAGE_DELIVERY_INCOMING] == [
            m.delivery for m in alice_page.messages
        ]
        assert "m-1" == alice_page.messages[0].client_message_id
        assert "" == bob_page.messages[0].client_message_id

        await alice.send(bob.key, "third")
        (entry,) = (await bob.friends()).friends
        assert (alice.key, False, 1, 3) == (
            entry.public_key,
            entry.added,
            entry.unread,
            entry.last_server_seq,
        )
        await bob.chat.MarkConversationRead(
            chat_pb2.MarkConversationReadReq(peer_public_key=alice.key), metadata=bob.metadata
        )
        (entry,) = (await bob.friends()).friends
        assert 0 == entry.unread
        assert 3 == entry.last_read_server_seq

        await bob.logout()
        await expect_status(bob.friends(), grpc.StatusCode.UNAUTHENTICATED)
        bob_stream.cancel()

    async def test_send_is_idempotent(self, connect: ClientFactory) -> None:
        """The same client_message_id stores one message and sends one event."""
        alice, bob = await connect(), await connect()
        stream = await bob.subscribe()

        first = await alice.send(bob.key, "once", client_message_id="same-key")
        second = await alice.send(bob.key, "once", client_message_id="same-key")
        await wait_for_event(stream, "new_message")

        assert second.deduplicated
        assert (first.message_id, first.server_seq) == (second.message_id, second.server_seq)
        await assert_quiet(stream)
        assert 2 == (await alice.send(bob.key, "next")).server_seq
        stream.cancel()

    async def test_reused_key_other_text(self, connect: ClientFactory) -> None:
        """A client_message_id reused for another text is ALREADY_EXISTS."""
        alice, bob = await connect(), await connect()
        await alice.send(bob.key, "original", client_message_id="k")

        await expect_status(
            alice.send(bob.key, "changed", client_message_id="k"), grpc.StatusCode.ALREADY_EXISTS
        )

    async def test_history_paging(self, connect: ClientFactory) -> None:
        """Pages run oldest first; cursors continue "older" and "newer"."""
        alice, bob = await connect(), await connect()
        for number in range(1, 6):
            await alice.send(bob.key, f"m{number}")

        newest = (await bob.history(alice.key, limit=2)).page
        older = (await bob.history(alice.key, limit=2, cursor=newest.next_cursor)).page
        after_two = (await bob.history(alice.key, cursor="2", direction="newer")).page

        assert [4, 5] == [m.server_seq for m in newest.messages]
        assert newest.has_more
        assert [2, 3] == [m.server_seq for m in older.messages]
        assert [3, 4, 5] == [m.server_seq for m in after_two.messages]
        assert not after_two.has_more
        assert "" == after_two.next_cursor

    async def test_changed_conversations(self, connect: ClientFactory) -> None:
        """ListChangedConversations lists new messages and read-cursor moves since a mark."""
        alice, bob, carol = await connect(), await connect(), await connect()
        await bob.send(alice.key, "from bob")
        await carol.send(alice.key, "from carol")

        everything = await alice.chat.ListChangedConversations(
            chat_pb2.ListChangedConversationsReq(since=0), metadata=alice.metadata
        )
        assert {bob.key, carol.key} == {c.peer_public_key for c in everything.changes}
        assert all(1 == c.unread for c in everything.changes)
        assert not everything.has_more

        nothing = await alice.chat.ListChangedConversations(
            chat_pb2.ListChangedConversationsReq(since=everything.next_since),
            metadata=alice.metadata,
        )
        assert [] == list(nothing.changes)
        assert everything.next_since == nothing.next_since

        await alice.chat.MarkConversationRead(
            chat_pb2.MarkConversationReadReq(peer_public_key=bob.key), metadata=alice.metadata
        )
        await carol.send(alice.key, "again")
        later = await alice.chat.ListChangedConversations(
            chat_pb2.ListChangedConversationsReq(since=everything.next_since),
            metadata=alice.metadata,
        )
        by_peer = {c.peer_public_key: c for c in later.changes}
        assert {bob.key, carol.key} == set(by_peer)
        assert 0 == by_peer[bob.key].unread
        assert 2 == by_peer[carol.key].unread
        assert "again" == by_peer[carol.key].last_message.text
        assert later.next_since > everything.next_since


class TestMultiDevice:
    async def test_both_streams_get_event(self, connect: ClientFactory) -> None:
        """Two devices of one key (two sessions) both get the new message."""
        alice, bob_key = await connect(), KeyPair.generate()
        bob_laptop = await connect(bob_key, client_id="laptop")
        bob_phone = await connect(bob_key, client_id="phone")
        laptop = await bob_laptop.subscribe("laptop")
        phone = await bob_phone.subscribe("phone")

        sent = await alice.send(bob_key.public_key.hex, "to both")

        for stream in (laptop, phone):
            event = await wait_for_event(stream, "new_message")
            assert sent.message_id == event.new_message.message.id
            stream.cancel()

    async def test_other_device_of_sender(self, connect: ClientFactory) -> None:
        """A message sent from one device reaches the sender's other device, not its own."""
        alice_key, bob = KeyPair.generate(), await connect()
        desktop = await connect(alice_key, client_id="desktop")
        tablet = await connect(alice_key, client_id="tablet")
        desktop_stream = await desktop.subscribe("desktop")
        tablet_stream = await tablet.subscribe("tablet")

        sent = await desktop.send(bob.key, "sent from the desktop", client_message_id="cm-7")
        event = await wait_for_event(tablet_stream, "new_message")

        assert bob.key == event.new_message.from_public_key
        assert bob.key == event.new_message.peer_public_key
        assert sent.message_id == event.new_message.message.id
        assert types_pb2.MESSAGE_DELIVERY_SENT == event.new_message.message.delivery
        assert "cm-7" == event.new_message.message.client_message_id
        await assert_quiet(desktop_stream)
        desktop_stream.cancel()
        tablet_stream.cancel()

    async def test_same_device_replaces_stream(self, connect: ClientFactory) -> None:
        """A second stream with the same client_id ends the first with ABORTED."""
        bob = await connect()
        first = await bob.subscribe("same")
        second = await bob.subscribe("same")

        await expect_status(first.read(), grpc.StatusCode.ABORTED)
        second.cancel()


class TestPresence:
    async def test_friend_status_events(self, connect: ClientFactory) -> None:
        """Who added a user sees it go online and offline, under the alias they gave."""
        alice, bob = await connect(), await connect()
        await alice.add_friend(bob.key, "Bobby")
        alice_stream = await alice.subscribe()

        bob_stream = await bob.subscribe()
        online = await wait_for_event(alice_stream, "friend_status")
        friends_online = (await alice.friends()).friends
        bob_stream.cancel()
        offline = await wait_for_event(alice_stream, "friend_status")

        assert (bob.key, "Bobby", True) == (
            online.friend_status.public_key,
            online.friend_status.alias,
            online.friend_status.is_online,
        )
        assert [True] == [f.is_online for f in friends_online]
        assert (bob.key, False) == (
            offline.friend_status.public_key,
            offline.friend_status.is_online,
        )
        alice_stream.cancel()

    async def test_not_added_gets_no_status(self, connect: ClientFactory) -> None:
        """A user who did not add bob gets no friend_status about bob."""
        carol, bob = await connect(), await connect()
        carol_stream = await carol.subscribe()

        bob_stream = await bob.subscribe()

        await assert_quiet(carol_stream)
        bob_stream.cancel()
        carol_stream.cancel()


class TestLogin:
    async def test_replayed_login_refused(self, channel: grpc.aio.Channel) -> None:
        """The same challenge and signature work once."""
        client = ProtocolClient(channel)
        challenge = await client.auth.RequestChallenge(
            auth_pb2.RequestChallengeReq(public_key=client.key)
        )
        request = auth_pb2.LoginReq(
            public_key=client.key,
            challenge_signature=sign_challenge(client.keypair, challenge.challenge),
        )

        await client.auth.Login(request)
        await expect_status(client.auth.Login(request), grpc.StatusCode.UNAUTHENTICATED)

    async def test_signature_of_other_key_refused(self, channel: grpc.aio.Channel) -> None:
        """A signature made with another key does not log in, and burns the challenge."""
        victim, attacker = KeyPair.generate(), KeyPair.generate()
        auth = ProtocolClient(channel, victim).auth
        challenge = await auth.RequestChallenge(
            auth_pb2.RequestChallengeReq(public_key=victim.public_key.hex)
        )

        forged = auth_pb2.LoginReq(
            public_key=victim.public_key.hex,
            challenge_signature=sign_challenge(attacker, challenge.challenge),
        )
        await expect_status(auth.Login(forged), grpc.StatusCode.UNAUTHENTICATED)
        honest = auth_pb2.LoginReq(
            public_key=victim.public_key.hex,
            challenge_signature=sign_challenge(victim, challenge.challenge),
        )
        await expect_status(auth.Login(honest), grpc.StatusCode.UNAUTHENTICATED)

    async def test_challenge_creates_no_user(self, connect: ClientFactory) -> None:
        """Asking for a challenge does not make a user; logging in does."""
        alice, newcomer = await connect(), KeyPair.generate()
        await alice.auth.RequestChallenge(
            auth_pb2.RequestChallengeReq(public_key=newcomer.public_key.hex)
        )

        await expect_status(alice.add_friend(newcomer.public_key.hex), grpc.StatusCode.NOT_FOUND)
        await connect(newcomer)
        await alice.add_friend(newcomer.public_key.hex)

    async def test_login_reply(self, connect: ClientFactory) -> None:
        """Login returns the canonical key, role 0 and a future expiry."""
        keypair = KeyPair.generate()
        client = await connect(keypair)

        assert 0 == client.role
        assert 43 == len(client.token)

    async def test_key_encodings_name_one_user(self, connect: ClientFactory) -> None:
        """Every accepted spelling of a key reaches the same user and contact entry."""
        bob = await connect(KeyPair.from_hex(RFC8032_SEED))
        alice = await connect()
        raw = bytes.fromhex(RFC8032_PUBLIC)
        spellings = [
            RFC8032_PUBLIC.upper(),
            f"  {RFC8032_PUBLIC}\n",
            "0x" + RFC8032_PUBLIC,
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        ]

        for spelling in spellings:
            await alice.add_friend(spelling, "bob")
            await alice.send(spelling, f"via {spelling.strip()[:6]}")

        friends = (await alice.friends()).friends
        assert [RFC8032_PUBLIC] == [f.public_key for f in friends]
        assert len(spellings) == friends[0].last_server_seq
        assert RFC8032_PUBLIC == bob.key

    async def test_logout_ends_own_streams_only(self, connect: ClientFactory) -> None:
        """Logout ends that session's stream with UNAUTHENTICATED; another session lives on."""
        keypair = KeyPair.generate()
        laptop = await connect(keypair, client_id="laptop")
        phone = await connect(keypair, client_id="phone")
        laptop_stream = await laptop.subscribe("laptop")
        phone_stream = await phone.subscribe("phone")

        await laptop.logout()

        await expect_status(laptop_stream.read(), grpc.StatusCode.UNAUTHENTICATED)
        await phone.friends()
        await assert_quiet(phone_stream, 0.2)
        phone_stream.cancel()


class TestAdmin:
    async def test_admin_role(self, admin: ProtocolClient) -> None:
        """The configured admin key logs in with role 1."""
        assert 1 == admin.role

    async def test_ban_and_unban(self, connect: ClientFactory, admin: ProtocolClient) -> None:
        """Ban: force_offline then PERMISSION_DENIED on every stream, token dead, login refused."""
        mallory_key, alice = KeyPair.generate(), await connect()
        m1 = await connect(mallory_key, client_id="m1")
        m2 = await connect(mallory_key, client_id="m2")
        await alice.add_friend(m1.key, "mallory")
        alice_stream = await alice.subscribe()
        streams = [await m1.subscribe("m1"), await m2.subscribe("m2")]
        await wait_for_event(alice_stream, "friend_status")
        admin_stream = await admin.subscribe("admin-panel")

        await admin.admin.SetUserStatus(
            admin_pb2.SetUserStatusReq(
                target_public_key=m1.key, status=types_pb2.USER_STATUS_BANNED
            ),
            metadata=admin.metadata,
        )

        for stream in streams:
            event = await wait_for_event(stream, "force_offline", timeout=2)
            assert "account_banned" == event.force_offline.reason
            await expect_status(stream.read(), grpc.StatusCode.PERMISSION_DENIED)
        offline = await wait_for_event(alice_stream, "friend_status", timeout=2)
        assert (m1.key, False) == (
            offline.friend_status.public_key,
            offline.friend_status.is_online,
        )
        await wait_for_event(admin_stream, "admin_update", timeout=2)
        await expect_status(m1.friends(), grpc.StatusCode.UNAUTHENTICATED)
        await expect_status(
            ProtocolClient(m1.channel, mallory_key).login(), grpc.StatusCode.PERMISSION_DENIED
        )

        await admin.admin.SetUserStatus(
            admin_pb2.SetUserStatusReq(
                target_public_key=m1.key, status=types_pb2.USER_STATUS_ACTIVE
            ),
            metadata=admin.metadata,
        )
        again = await connect(mallory_key)
        await again.friends()
        await expect_status(m2.friends(), grpc.StatusCode.UNAUTHENTICATED)
        alice_stream.cancel()
        admin_stream.cancel()

    async def test_broadcast_reaches_online_users(
        self, connect: ClientFactory, admin: ProtocolClient
    ) -> None:
        """Every online user gets system_broadcast; the reply counts them."""
        users = [await connect(), await connect()]
        streams = [await user.subscribe() for user in users]

        reply = await admin.admin.Broadcast(
            admin_pb2.BroadcastReq(text="系统维护通知"), metadata=admin.metadata
        )

        assert reply.recipients >= len(users)
        for stream in streams:
            event = await wait_for_event(stream, "system_broadcast")
            assert ("系统维护通知", admin.key) == (
                event.system_broadcast.text,
                event.system_broadcast.from_admin,
            )
            stream.cancel()

    async def test_poll_admin_events(self, connect: ClientFactory, admin: ProtocolClient) -> None:
        """The admin panel lists users with online state and the counters."""
        user = await connect()
        stream = await user.subscribe()

        update = (
            await admin.admin.PollAdminEvents(
                admin_pb2.PollAdminEventsReq(), metadata=admin.metadata
            )
        ).update

        by_key = {info.public_key: info for info in update.users}
        assert by_key[user.key].is_online
        assert not by_key[user.key].is_banned
        assert 1 == by_key[admin.key].role
        assert update.stats.total_users == len(update.users)
        assert update.stats.online_users >= 1
        stream.cancel()

    @pytest.mark.parametrize(
        ("status", "target", "code"),
        [
            (types_pb2.USER_STATUS_BANNED, "self", grpc.StatusCode.FAILED_PRECONDITION),
            (types_pb2.USER_STATUS_BANNED, "unknown", grpc.StatusCode.NOT_FOUND),
            (types_pb2.USER_STATUS_UNSPECIFIED, "user", grpc.StatusCode.INVALID_ARGUMENT),
            (7, "user", grpc.StatusCode.INVALID_ARGUMENT),
            (types_pb2.USER_STATUS_BANNED, "not-a-key", grpc.StatusCode.INVALID_ARGUMENT),
        ],
    )
    async def test_set_user_status_errors(
        self,
        connect: ClientFactory,
        admin: ProtocolClient,
        status: int,
        target: str,
        code: grpc.StatusCode,
    ) -> None:
        """Self-ban, unknown users, bad status values and bad keys get precise statuses."""
        user = await connect()
        keys = {
            "self": admin.key,
            "unknown": KeyPair.generate().public_key.hex,
            "user": user.key,
            "not-a-key": "zz" * 32,
        }

        await expect_status(
            admin.admin.SetUserStatus(
                admin_pb2.SetUserStatusReq(target_public_key=keys[target], status=status),  # type: ignore[arg-type]
                metadata=admin.metadata,
            ),
            code,
        )
