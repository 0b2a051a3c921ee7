"""An echo bot: it replies to every incoming message with the same text.

It needs the client library installed (``pip install chatview-client-core``; in the
ChatView repository, ``uv run python`` instead of ``python``). Run it with a data folder
of its own and a PIN, for example::

    CHATVIEW_DATA_DIR=./echo-bot CHATVIEW_PIN=1234 python echo_bot.py

The first run creates the bot's identity; later runs unlock it. Once online it prints
its public key, which is what people send messages to. Ctrl+C stops it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import structlog

from chatview_client import ChatClient, IdentityStore, MessageState, NewMessage, load_config


async def main() -> None:
    # The library logs through structlog; the application decides where logs go.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    # Configuration from client.yaml and CHATVIEW_* variables, such as
    # CHATVIEW_GRPC_TARGET=chat.example.org:443.
    config = load_config()
    identity = IdentityStore.for_config(config)
    pin = os.environ["CHATVIEW_PIN"]
    if identity.exists():
        keypair = await identity.unlock(pin)
    else:
        keypair = await identity.create(pin)

    async with ChatClient(config, keypair) as client:
        # Made before the first connection, so no event is missed.
        events = client.events()
        await client.wait_online()
        print(f"echo bot {keypair.public_key.hex} is online", flush=True)

        async for event in events:
            if isinstance(event, NewMessage) and event.message.state is MessageState.INCOMING:
                await client.send_message(event.message.sender, event.message.text)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        # asyncio.run has already cancelled main(), which closed the client; the
        # traceback would say nothing more than that, so stop quietly with the usual
        # status of a Ctrl+C.
        sys.exit(130)
