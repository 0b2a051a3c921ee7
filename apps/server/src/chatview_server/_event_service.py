"""EventService: one live stream of events per device.

A stream is a hub connection. It ends when the hub ends the connection, and the
hub's close reason picks the status the client reads:

============================  ====================  ==================================
close reason                  status                cause
============================  ====================  ==================================
``account_banned``            PERMISSION_DENIED     an admin banned the account; a
                                                    ``force_offline`` event comes first
``session_revoked``           UNAUTHENTICATED       Logout of the stream's session
``session_expired``           UNAUTHENTICATED       the session's expiry time passed
``slow_consumer`` (overflow)  RESOURCE_EXHAUSTED    the client read too slowly
``replaced``                  ABORTED               a newer stream of the same device
``server_shutdown``           UNAVAILABLE           the server is stopping
============================  ====================  ==================================

Expiry is a timer set at the session's ``expires_at`` (``loop.call_at``), not a poll.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any, Final, final

import grpc

from chatview_hub import ConnectionClosedError, ConnectionOverflowError
from chatview_proto import events_pb2, events_pb2_grpc

from ._context import current_caller
from ._replay import BroadcastFilter, broadcast_event, stored_broadcasts
from ._runtime import Runtime
from ._status import RpcError
from ._validation import check_client_id

__all__ = ["REASON_ACCOUNT_BANNED", "REASON_SESSION_EXPIRED", "EventService"]

REASON_ACCOUNT_BANNED: Final = "account_banned"
REASON_SESSION_EXPIRED: Final = "session_expired"

_CLOSE_STATUS: Final = {
    REASON_ACCOUNT_BANNED: (grpc.StatusCode.PERMISSION_DENIED, "account is banned"),
    "session_revoked": (
        grpc.StatusCode.UNAUTHENTICATED,
        "session was logged out or revoked; log in again",
    ),
    REASON_SESSION_EXPIRED: (
        grpc.StatusCode.UNAUTHENTICATED,
        "session expired; log in again and resubscribe",
    ),
    "replaced": (
        grpc.StatusCode.ABORTED,
        "a newer stream with the same client_id replaced this one",
    ),
    "server_shutdown": (
        grpc.StatusCode.UNAVAILABLE,
        "the server is shutting down; reconnect and catch up",
    ),
}

Context = grpc.aio.ServicerContext[Any, Any]


@final
class EventService(events_pb2_grpc.EventServiceServicer):
    """Streams the hub's events for the caller's device."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def Subscribe(  # noqa: N802 - gRPC method name
        self, request: events_pb2.SubscribeReq, context: Context
    ) -> AsyncIterator[events_pb2.ServerEvent]:
        caller = current_caller()
        check_client_id(request.client_id)

        hub = self._rt.hub
        connection = hub.connect(
            caller.public_key,
            request.client_id,
            session_id=caller.session_id,
            is_admin=caller.is_admin,
        )
        loop = asyncio.get_running_loop()
        remaining = (caller.expires_at - self._rt.clock()).total_seconds()
        expiry = loop.call_at(
            loop.time() + max(remaining, 0.0),
            functools.partial(hub.close_session, caller.session_id, reason=REASON_SESSION_EXPIRED),
        )
        try:
            # Send the headers now: once a client has them, the stream is in the hub.
            await context.send_initial_metadata(())
            # Stored broadcasts after the stream is in the hub: a broadcast is then
            # either listed here or published to this stream (or both, which the
            # filter folds into one).
            broadcasts = BroadcastFilter(
                request.broadcasts_after if request.HasField("broadcasts_after") else None
            )
            if request.HasField("broadcasts_after"):
                for broadcast in await stored_broadcasts(
                    self._rt.store, request.broadcasts_after, self._rt.clock()
                ):
                    event = broadcast_event(broadcast)
                    if broadcasts.admit(event):
                        yield event
            while True:
                try:
                    event = await connection.receive()
                except ConnectionOverflowError:
                    raise RpcError(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"the stream fell {connection.statistics().max_queue_size} events "
                        "behind and was closed; reconnect and catch up",
                    ) from None
                except ConnectionClosedError as exc:
                    code, message = _CLOSE_STATUS.get(
                        exc.reason,
                        (grpc.StatusCode.UNAVAILABLE, f"stream closed ({exc.reason}); reconnect"),
                    )
                    raise RpcError(code, message) from None
                if broadcasts.admit(event):
                    yield event
        finally:
            expiry.cancel()
            connection.close()
