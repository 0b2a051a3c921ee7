"""A client opened with ``subscribe_events=False`` works without showing up online."""

from __future__ import annotations

from pathlib import Path

from chatview_client import ChatClient, Event, FriendStatusChanged, NewMessage
from chatview_identity import KeyPair
from chatview_server.testing import ServerProcess

from .conftest import ClientFactory, client_config, until


class TestUnsubscribed:
    async def test_sends_unseen(
        self, server: ServerProcess, make_client: ClientFactory, tmp_path: Path
    ) -> None:
        """Bob's unsubscribed client delivers a message, and Alice, who follows Bob,
        sees no status change for him until a subscribed client of his connects."""
        alice_key, bob_key = KeyPair.generate(), KeyPair.generate()
        alice = await make_client(server, alice_key)
        seen: list[Event] = []
        alice.add_listener(seen.append)
        await alice.wait_online(20)

        config = client_config(tmp_path / "bob", server)
        async with ChatClient(config, bob_key, subscribe_events=False) as bob:
            await bob.wait_online(20)
            await alice.add_friend(bob_key.public_key.hex, "bob")  # once Bob logged in
            await bob.send_message(alice.public_key, "quietly")
            await until(lambda: not bob.outbox(), what="bob's outbox drained")
        await until(
            lambda: any(isinstance(event, NewMessage) for event in seen), what="alice got it"
        )
        async with ChatClient(config, bob_key) as again:
            await again.wait_online(20)
            await until(
                lambda: any(isinstance(event, FriendStatusChanged) for event in seen),
                what="alice saw bob come online",
            )

        statuses = [event for event in seen if isinstance(event, FriendStatusChanged)]
        first = seen.index(statuses[0])
        assert "quietly" in [e.message.text for e in seen[:first] if isinstance(e, NewMessage)]
        assert (bob_key.public_key.hex, True) == (statuses[0].public_key, statuses[0].is_online)
