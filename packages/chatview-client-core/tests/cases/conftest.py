"""Fixtures of the real-world failure cases: the integration fixtures and a TCP proxy.

The proxy stands between a client and the real server on loopback, so a test can cut
the network or hold back the server's replies the way a bad link does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatview_server.testing import ServerProcess

from ..integration.conftest import (  # noqa: TID252 - the integration fixtures, reused
    make_client,  # noqa: F401 - a fixture
    server,  # noqa: F401 - a fixture
)
from .proxy import FaultProxy


@pytest.fixture
async def proxy(server: ServerProcess) -> AsyncIterator[FaultProxy]:  # noqa: F811
    """A fault-injecting proxy in front of the module's server."""
    opened = await FaultProxy.start(server.address)
    try:
        yield opened
    finally:
        await opened.close()
