"""The ChatView wire protocol: generated protobuf messages, gRPC stubs and typing stubs.

Import the modules directly, for example ``from chatview_proto import chat_pb2,
chat_pb2_grpc``; ``chatview_proto.common.types_pb2`` holds the shared types.
"""

__version__ = "0.1.0"

__all__ = [
    "admin_pb2",
    "admin_pb2_grpc",
    "auth_pb2",
    "auth_pb2_grpc",
    "chat_pb2",
    "chat_pb2_grpc",
    "common",
    "events_pb2",
    "events_pb2_grpc",
]
