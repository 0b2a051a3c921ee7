"""Quick checks of the suite's own parts; the scenarios themselves run from the CLI."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from chatview_identity import KeyPair
from chatview_proto import admin_pb2, auth_pb2, chat_pb2, events_pb2
from reliability._faults import FaultPlan, _fault_order
from reliability._fuzz import _rpcs, hostile_text, key_text

_KEYS = [KeyPair.generate() for _ in range(2)]


class TestFuzzCoverage:
    def test_every_rpc(self) -> None:
        """The fuzz draws requests for every method of every service of the contract."""
        served = {
            f"/{service.full_name}/{method.name}"
            for module in (auth_pb2, chat_pb2, events_pb2, admin_pb2)
            for service in module.DESCRIPTOR.services_by_name.values()
            for method in service.methods
        }
        assert served == {rpc.path for rpc in _rpcs()}

    @settings(max_examples=50)
    @given(data=st.data())
    def test_requests_serialize(self, data: st.DataObject) -> None:
        """Every drawn request is a message protobuf can put on the wire."""
        rpc = data.draw(st.sampled_from(_rpcs()))
        request = data.draw(rpc.request(_KEYS))
        assert isinstance(request.SerializeToString(), bytes)

    @settings(max_examples=50)
    @given(text=hostile_text(), key=key_text(_KEYS))
    def test_strings_encode(self, text: str, key: str) -> None:
        """Hostile strings are valid Unicode (no lone surrogates), as protobuf requires."""
        assert isinstance(text.encode(), bytes)
        assert isinstance(key.encode(), bytes)


class TestFaultPlan:
    def test_counts(self) -> None:
        """The fault order holds each fault as often as the plan says."""
        plan = FaultPlan(server_kills=5, postgres_restarts=2, connection_cuts=10)
        order = _fault_order(plan, random.Random(3))  # noqa: S311 - a test's shuffle
        assert (5, 2, 10) == (order.count("kill"), order.count("postgres"), order.count("cut"))
