"""Run a real ChatView server in a child process, for tests of the server and its clients.

`ServerProcess` starts ``python -m chatview_server serve`` on a free loopback port,
waits until the standard gRPC health check reports SERVING, and can stop it
(SIGTERM), kill it (SIGKILL) and restart it on the same port and database::

    from chatview_server.testing import ServerProcess

    with ServerProcess(dsn=database_dsn) as server:          # or: async with
        channel = grpc.aio.insecure_channel(server.address)
        ...
        server.kill()
        server.restart()

Without ``dsn`` the server starts an embedded PostgreSQL in a temporary data
directory. `ProtocolClient` logs a key in through the generated stubs and makes
raw calls, for tests that act as another user or check the wire. `TcpBalancer`
spreads connections over several server processes, round-robin, the way an L4
balancer in front of a cluster does. The pytest
fixtures ``chatview_server`` and ``chatview_server_factory`` (module
`chatview_server.pytest_plugin`) are registered automatically when the package is
installed. `make_test_certificates` writes a throwaway CA and a server certificate
for ``localhost`` and ``127.0.0.1``, for TLS tests.
"""

from ._balancer import TcpBalancer
from ._certificates import TestCertificates, make_test_certificates
from ._client import ProtocolClient, wait_for_event
from ._process import ServerProcess, ServerStartError

__all__ = [
    "ProtocolClient",
    "ServerProcess",
    "ServerStartError",
    "TcpBalancer",
    "TestCertificates",
    "make_test_certificates",
    "wait_for_event",
]
