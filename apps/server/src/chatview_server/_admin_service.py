"""AdminService: ban and unban, broadcasts, and the admin panel's data.

The interceptor lets only admins in; everything here may assume an admin caller.
"""

from __future__ import annotations

from typing import Any, Final, final

import grpc
import structlog

from chatview_proto import admin_pb2, admin_pb2_grpc, events_pb2
from chatview_proto.common import types_pb2
from chatview_store_pg import User, UserStatus

from ._context import current_caller
from ._convert import user_info
from ._event_service import REASON_ACCOUNT_BANNED
from ._replay import broadcast_event, broadcast_expiry
from ._runtime import Runtime
from ._status import RpcError, invalid_argument, parse_key_field
from ._validation import check_text

__all__ = ["AdminService"]

_log = structlog.get_logger("chatview_server.admin")

# The store's largest page of users.
_USERS_PAGE: Final = 1000

Context = grpc.aio.ServicerContext[Any, Any]


@final
class AdminService(admin_pb2_grpc.AdminServiceServicer):
    """Account status, announcements and counters, for admins."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def SetUserStatus(  # noqa: N802 - gRPC method name
        self, request: admin_pb2.SetUserStatusReq, context: Context
    ) -> admin_pb2.SetUserStatusResp:
        me = current_caller().public_key
        target = parse_key_field("target_public_key", request.target_public_key)
        if request.status == types_pb2.USER_STATUS_BANNED:
            status = UserStatus.BANNED
        elif request.status == types_pb2.USER_STATUS_ACTIVE:
            status = UserStatus.ACTIVE
        else:
            raise invalid_argument(
                "status",
                request.status,
                "expected USER_STATUS_ACTIVE (1) or USER_STATUS_BANNED (2)",
            )
        if status is UserStatus.BANNED and target == me:
            raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, "an admin cannot ban themselves")

        await self._rt.store.set_user_status(target, status)
        if status is UserStatus.BANNED:
            # Revoke first, so a device that reconnects at once is refused.
            revoked = await self._rt.store.revoke_user_sessions(target)
            ended = self._rt.hub.close_user(
                target,
                events_pb2.ServerEvent(
                    force_offline=events_pb2.ForceOfflineEvent(reason=REASON_ACCOUNT_BANNED)
                ),
                reason=REASON_ACCOUNT_BANNED,
            )
            _log.info(
                "admin.user.banned",
                admin=me[:8],
                user=target[:8],
                sessions_revoked=revoked,
                streams_ended=ended,
            )
        else:
            _log.info("admin.user.unbanned", admin=me[:8], user=target[:8])

        self._rt.hub.publish_admins(
            events_pb2.ServerEvent(admin_update=events_pb2.AdminUpdateEvent())
        )
        return admin_pb2.SetUserStatusResp()

    async def Broadcast(  # noqa: N802 - gRPC method name
        self, request: admin_pb2.BroadcastReq, context: Context
    ) -> admin_pb2.BroadcastResp:
        me = current_caller().public_key
        check_text("text", request.text, self._rt.config.max_message_chars)

        expires_at = broadcast_expiry(request.expires_in_seconds, self._rt.clock())

        # Stored first, so a device connecting from now on finds it at catch-up.
        broadcast = await self._rt.store.add_broadcast(me, request.text, expires_at)
        hub = self._rt.hub
        recipients = hub.online_count()
        hub.broadcast(broadcast_event(broadcast))
        _log.info("admin.broadcast", admin=me[:8], recipients=recipients, broadcast_id=broadcast.id)
        return admin_pb2.BroadcastResp(recipients=recipients)

    async def PollAdminEvents(  # noqa: N802 - gRPC method name
        self, request: admin_pb2.PollAdminEventsReq, context: Context
    ) -> admin_pb2.PollAdminEventsResp:
        users = await self._all_users()
        counts = await self._rt.store.user_counts()
        hub = self._rt.hub
        return admin_pb2.PollAdminEventsResp(
            update=types_pb2.AdminUpdate(
                users=[user_info(user, is_online=hub.is_online(user.public_key)) for user in users],
                stats=types_pb2.AdminStats(
                    online_users=hub.online_count(),
                    total_users=counts.total,
                    banned_users=counts.banned,
                ),
            )
        )

    async def _all_users(self) -> list[User]:
        users: list[User] = []
        while True:
            page = await self._rt.store.list_users(limit=_USERS_PAGE, offset=len(users))
            users.extend(page)
            if len(page) < _USERS_PAGE:
                return users
