"""The request-log interceptor's error mapping, on an in-process grpc.aio server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import structlog

import chatview_store_pg as store
from chatview_hub import HubClosedError
from chatview_proto import chat_pb2, chat_pb2_grpc
from chatview_server._interceptors import RequestLogInterceptor, peer_host
from chatview_server._status import RpcError

FAILURES: dict[str, tuple[BaseException, grpc.StatusCode]] = {
    "bug": (RuntimeError("secret internals at 0xdead"), grpc.StatusCode.INTERNAL),
    "invalid": (
        store.InvalidCursorError("cursor 'x' is not a server_seq"),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "not_found": (store.UserNotFoundError("no user with key 00"), grpc.StatusCode.NOT_FOUND),
    "conflict": (store.IdempotencyConflictError("reused id"), grpc.StatusCode.ALREADY_EXISTS),
    "down": (store.StoreUnavailableError("connection refused"), grpc.StatusCode.UNAVAILABLE),
    "busy": (store.RetriesExhaustedError("gave up"), grpc.StatusCode.UNAVAILABLE),
    "schema": (store.DatabaseError("relation does not exist"), grpc.StatusCode.INTERNAL),
    "closing": (HubClosedError(), grpc.StatusCode.UNAVAILABLE),
    "rpc": (
        RpcError(grpc.StatusCode.FAILED_PRECONDITION, "nope"),
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
}


class FailingChat(chat_pb2_grpc.ChatServiceServicer):
    """Raises the failure named by the request's cursor field."""

    async def GetMessageHistory(  # noqa: N802
        self, request: chat_pb2.GetMessageHistoryReq, context: Any
    ) -> chat_pb2.GetMessageHistoryResp:
        raise FAILURES[request.cursor][0]


@pytest.fixture
async def stub() -> AsyncIterator[chat_pb2_grpc.ChatServiceAsyncStub]:
    server = grpc.aio.server(interceptors=[RequestLogInterceptor()])
    chat_pb2_grpc.add_ChatServiceServicer_to_server(FailingChat(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield chat_pb2_grpc.ChatServiceStub(channel)
    finally:
        await server.stop(0)


class TestErrorMapping:
    @pytest.mark.parametrize("name", sorted(FAILURES))
    async def test_status(self, stub: chat_pb2_grpc.ChatServiceAsyncStub, name: str) -> None:
        """Each library error maps to its status; nothing leaks a traceback."""
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await stub.GetMessageHistory(chat_pb2.GetMessageHistoryReq(cursor=name))

        assert FAILURES[name][1] == failure.value.code()
        assert "Traceback" not in (failure.value.details() or "")

    async def test_internal_error_has_request_id(
        self, stub: chat_pb2_grpc.ChatServiceAsyncStub
    ) -> None:
        """An unexpected exception is INTERNAL with a request id, logged with the traceback."""
        with (
            structlog.testing.capture_logs() as logs,
            pytest.raises(grpc.aio.AioRpcError) as failure,
        ):
            await stub.GetMessageHistory(chat_pb2.GetMessageHistoryReq(cursor="bug"))

        details = failure.value.details() or ""
        match = re.fullmatch(r"internal error \(request id ([0-9a-f]{12})\)", details)
        assert match is not None, details
        (entry,) = [log for log in logs if log["event"] == "rpc.completed"]
        assert match.group(1) == entry["request_id"]
        assert "INTERNAL" == entry["code"]
        assert isinstance(entry["exc_info"], RuntimeError)
        assert "secret" not in details

    async def test_log_fields(self, stub: chat_pb2_grpc.ChatServiceAsyncStub) -> None:
        """rpc.completed carries method, peer, code, duration and request id."""
        with structlog.testing.capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError):
            await stub.GetMessageHistory(chat_pb2.GetMessageHistoryReq(cursor="not_found"))

        (entry,) = [log for log in logs if log["event"] == "rpc.completed"]
        assert "/chatview.chat.ChatService/GetMessageHistory" == entry["method"]
        assert "NOT_FOUND" == entry["code"]
        assert entry["duration_ms"] >= 0
        assert entry["peer"].startswith("ipv4:127.0.0.1:")
        assert "UserNotFoundError" == entry["error"]


class TestPeerHost:
    @pytest.mark.parametrize(
        ("peer", "host"),
        [
            ("ipv4:127.0.0.1:5123", "127.0.0.1"),
            ("ipv6:[::1]:5123", "::1"),
            ("unix:/tmp/socket", "unix:/tmp/socket"),
        ],
    )
    def test_host(self, peer: str, host: str) -> None:
        """The port is dropped so that every connection of one address shares a bucket."""
        assert host == peer_host(peer)
