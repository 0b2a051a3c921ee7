"""ChatView's end-to-end reliability suite.

It runs the real server (`chatview_server.testing.ServerProcess`), a real PostgreSQL
(embedded, owned by the suite so it can restart it) and the real client library, and
prints the figures of four scenarios:

- ``faults``: clients with outboxes chat while the server is killed and restarted,
  PostgreSQL is restarted and connections are cut. No message may be lost or duplicated.
- ``backpressure``: a subscriber stops reading during a flood of events;
- ``soak``: mixed load for a while; memory, files and threads must not creep up;
- ``fuzz``: hypothesis-made hostile requests to every RPC.

Run ``python -m tools.reliability --help`` from the repository root.
"""
