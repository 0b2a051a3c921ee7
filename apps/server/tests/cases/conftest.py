"""Fixtures of the real-world failure cases: event streams read by a background task.

Reading a grpc.aio stream under a timeout cancels the call, so these streams are read
by a task into a queue and the tests wait on the queue instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import grpc
import pytest

from chatview_proto import events_pb2
from chatview_server.testing import ProtocolClient

Call = grpc.aio.UnaryStreamCall[events_pb2.SubscribeReq, events_pb2.ServerEvent]


class Stream:
    """An event stream read by a task; `events` waits for what arrived."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.error: grpc.aio.AioRpcError | None = None
        self._queue: asyncio.Queue[events_pb2.ServerEvent] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for event in self.call:
                self._queue.put_nowait(event)
        except grpc.aio.AioRpcError as exc:
            self.error = exc

    async def events(self, kind: str, quiet: float = 0.8) -> list[events_pb2.ServerEvent]:
        """The events of `kind` delivered until the stream stays quiet for `quiet` s."""
        found: list[events_pb2.ServerEvent] = []
        while True:
            try:
                event = await asyncio.wait_for(self._queue.get(), quiet)
            except TimeoutError:
                return found
            if event.WhichOneof("event") == kind:
                found.append(event)

    async def next(self, kind: str, within: float = 10.0) -> events_pb2.ServerEvent:
        """The next event of `kind`; fails the test after `within` seconds."""
        async with asyncio.timeout(within):
            while True:
                event = await self._queue.get()
                if event.WhichOneof("event") == kind:
                    return event

    async def ended(self, within: float = 10.0) -> grpc.StatusCode:
        """Wait until the server ends the stream; return its status."""
        async with asyncio.timeout(within):
            await asyncio.shield(self._task)
        if self.error is not None:
            return self.error.code()
        return await self.call.code()

    def cancel(self) -> None:
        self.call.cancel()
        self._task.cancel()


Subscriber = Callable[..., Coroutine[Any, Any, Stream]]


@pytest.fixture
async def subscribe() -> AsyncIterator[Subscriber]:
    """Open streams (``await subscribe(user, device, broadcasts_after=None)``); all
    cancelled at the end of the test."""
    opened: list[Stream] = []

    async def open_stream(
        user: ProtocolClient, device: str = "stream", broadcasts_after: int | None = None
    ) -> Stream:
        request = events_pb2.SubscribeReq(client_id=device)
        if broadcasts_after is not None:
            request.broadcasts_after = broadcasts_after
        call: Call = user.events.Subscribe(request, metadata=user.metadata)
        await call.initial_metadata()
        stream = Stream(call)
        opened.append(stream)
        return stream

    yield open_stream
    for stream in opened:
        stream.cancel()
