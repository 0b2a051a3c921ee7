"""ChatView's performance benchmark: load against the real server, as ratios to bare gRPC.

Run it from the repository root::

    uv run python -m tools.bench            # the full run (several minutes)
    uv run python -m tools.bench --quick    # a smoke run, a few seconds per measure

The load generator is this process (grpc.aio on the generated stubs, and the client
library for the outbox measure). The ChatView server runs in a child process through
`chatview_server.testing.ServerProcess`, on a fresh database of an embedded PostgreSQL
(or of the server named by ``CHATVIEW_BENCH_DSN``). Absolute figures depend on the
machine, so the send figures are also divided by a baseline measured in the same run.
The baseline is a bare grpc.aio echo service and a bare relay (unary publish,
server-streaming subscribe) with the same message sizes, in a child process of their
own (`tools.bench._baseline`). Every figure is printed with its target and PASS or MISS.
"""

import sys
from pathlib import Path

# The sibling scripts (bench_store.py, bench_cluster.py) are not a package, so their
# helpers are imported by module name, which is also how mypy resolves them in tools/.
_TOOLS = str(Path(__file__).resolve().parent.parent)
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
