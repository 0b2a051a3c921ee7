"""ClientSession over the real client library, offline (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatview_client import (
    ClientConfig,
    InvalidMessageError,
    MessageState,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from chatview_identity import InvalidPrivateKeyError, WrongPinError
from chatview_kivy._client_session import ClientSession, _problem_of
from chatview_kivy._errors import Problem, SessionError, describe_error
from chatview_kivy._i18n import Translator

PEER = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"


def session_in(path: Path) -> ClientSession:
    # Port 9 on loopback: nothing listens, so the client stays offline.
    return ClientSession(ClientConfig(data_dir=path, grpc_target="127.0.0.1:9"))


class TestIdentity:
    async def test_create_then_unlock(self, tmp_path: Path) -> None:
        """A new identity unlocks with its PIN in a later session."""
        key = await session_in(tmp_path).create_identity("2580")
        later = session_in(tmp_path)
        assert later.has_identity
        assert key == later.public_key
        assert key == await later.unlock("2580")

    async def test_wrong_pin(self, tmp_path: Path) -> None:
        """A wrong PIN is a WRONG_PIN problem, and the right one still works after."""
        await session_in(tmp_path).create_identity("2580")
        later = session_in(tmp_path)
        with pytest.raises(SessionError) as caught:
            await later.unlock("0000")
        assert Problem.WRONG_PIN is caught.value.problem
        assert await later.unlock("2580")

    async def test_import_bad_key(self, tmp_path: Path) -> None:
        """Pasted text that is no private key is a BAD_PRIVATE_KEY problem."""
        with pytest.raises(SessionError) as caught:
            await session_in(tmp_path).import_identity("not hex", "2580")
        assert Problem.BAD_PRIVATE_KEY is caught.value.problem

    async def test_import_and_export(self, tmp_path: Path) -> None:
        """An imported key is exported again only with the PIN."""
        session = session_in(tmp_path)
        assert PEER == await session.import_identity(f"  {SEED}\n", "2580")
        assert SEED == await session.export_private_key("2580")
        with pytest.raises(SessionError) as caught:
            await session.export_private_key("1111")
        assert Problem.WRONG_PIN is caught.value.problem


class TestOffline:
    async def test_send_while_offline_is_pending(self, tmp_path: Path) -> None:
        """Offline, a message is queued as pending and is in the history."""
        session = session_in(tmp_path)
        await session.create_identity("2580")
        await session.start()
        try:
            assert [] == list(await session.friends())
            message = await session.send(PEER, "离线消息 😀")
            messages, has_more = await session.history(PEER, None, 30)
        finally:
            await session.close()
        assert MessageState.PENDING is message.state
        assert ["离线消息 😀"] == [m.text for m in messages]
        assert not has_more

    async def test_empty_message_refused(self, tmp_path: Path) -> None:
        """Blank text is a BAD_MESSAGE problem; nothing is queued."""
        session = session_in(tmp_path)
        await session.create_identity("2580")
        await session.start()
        try:
            with pytest.raises(SessionError) as caught:
                await session.send(PEER, "   ")
        finally:
            await session.close()
        assert Problem.BAD_MESSAGE is caught.value.problem

    async def test_not_started(self, tmp_path: Path) -> None:
        """Calls before start say so instead of crashing."""
        with pytest.raises(SessionError, match="not started"):
            await session_in(tmp_path).friends()


class TestErrorMapping:
    @pytest.mark.parametrize(
        ("error", "problem"),
        [
            (WrongPinError("x"), Problem.WRONG_PIN),
            (InvalidPrivateKeyError("x"), Problem.BAD_PRIVATE_KEY),
            (InvalidMessageError("x"), Problem.BAD_MESSAGE),
            (UnavailableError("x"), Problem.OFFLINE),
            (PermissionDeniedError("x"), Problem.DENIED),
            (NotFoundError("x"), Problem.NOT_FOUND),
            (RuntimeError("x"), Problem.OTHER),
        ],
    )
    def test_problem(self, error: Exception, problem: Problem) -> None:
        """Each library error maps to the problem a screen explains."""
        assert problem is _problem_of(error)

    @pytest.mark.parametrize("problem", list(Problem))
    def test_every_problem_explained_in_both_languages(self, problem: Problem) -> None:
        """Every problem has an English and a different Chinese sentence."""
        error = SessionError(problem, "detail")
        english = describe_error(error, Translator("en"))
        chinese = describe_error(error, Translator("zh_CN"))
        assert english
        assert chinese
        assert english != chinese
