"""One key, many spellings: a second ("ghost") account or a misrouted message when a
key's hex case or base64 form is not normalized.

Every accepted encoding of the RFC 8032 test 1 key names the same user; malformed
keys are INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

import grpc
import pytest

from chatview_identity import KeyPair, sign_challenge
from chatview_proto import admin_pb2, auth_pb2
from chatview_server.testing import ProtocolClient

ClientFactory = Callable[..., Awaitable[ProtocolClient]]

# RFC 8032 test 1: a published test vector, so its secret key is no secret.
SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RAW = bytes.fromhex(PUBLIC)
SPELLINGS = [
    PUBLIC,
    PUBLIC.upper(),
    f" {PUBLIC}\n",
    "0x" + PUBLIC,
    "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
]
MALFORMED = [
    RAW[:31].hex(),
    (RAW + b"\x00").hex(),
    base64.b64encode(RAW[:31]).decode(),
    base64.b64encode(RAW + b"\x00").decode(),
    "g" + PUBLIC[1:],
]


class TestKeyEncodings:
    async def test_every_form_reaches_one_user(
        self, connect: ClientFactory, admin: ProtocolClient
    ) -> None:
        """Adding and messaging each form gives one contact, one conversation, one user."""
        bob = await connect(KeyPair.from_hex(SEED), client_id="b1")
        alice = await connect()

        for n, spelling in enumerate(SPELLINGS):
            await alice.add_friend(spelling, "bob")
            await alice.send(spelling, f"第{n}条")

        friends = (await alice.friends()).friends
        assert [(PUBLIC, len(SPELLINGS))] == [(f.public_key, f.last_server_seq) for f in friends]
        assert len(SPELLINGS) == len((await bob.history(alice.key)).page.messages)
        users = (
            await admin.admin.PollAdminEvents(
                admin_pb2.PollAdminEventsReq(), metadata=admin.metadata
            )
        ).update.users
        assert 1 == sum(PUBLIC.startswith(u.public_key[:8]) for u in users)
        assert {PUBLIC} == {u.public_key for u in users if u.public_key.startswith(PUBLIC[:8])}

    async def test_uppercase_login_same_user(self, connect: ClientFactory) -> None:
        """Logging in with the uppercase hex on a second device is the same user."""
        first = await connect(KeyPair.from_hex(SEED), client_id="b1")
        second = ProtocolClient(first.channel, KeyPair.from_hex(SEED), client_id="b2")
        challenge = await second.auth.RequestChallenge(
            auth_pb2.RequestChallengeReq(public_key=PUBLIC.upper())
        )

        reply = await second.auth.Login(
            auth_pb2.LoginReq(
                public_key=PUBLIC.upper(),
                challenge_signature=sign_challenge(second.keypair, challenge.challenge),
                client_id="b2",
            )
        )

        assert PUBLIC == reply.public_key

    @pytest.mark.parametrize("spelling", MALFORMED)
    async def test_malformed_key_refused(self, connect: ClientFactory, spelling: str) -> None:
        """Wrong lengths and non-hex characters are INVALID_ARGUMENT naming the field."""
        alice = await connect()

        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await alice.add_friend(spelling)

        assert grpc.StatusCode.INVALID_ARGUMENT == failure.value.code()
        assert "target_public_key" in (failure.value.details() or "")
        assert [] == list((await alice.friends()).friends)
