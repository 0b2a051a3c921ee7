"""Wiring: client configuration, fonts and session factory for a real run."""

from __future__ import annotations

from pathlib import Path

from chatview_client import ClientConfig, load_config

from ._app import ChatViewApp
from ._client_session import ClientSession
from ._fonts import discover_font_chain
from ._settings import AppSettings
from ._widgets import tr

__all__ = ["build_app"]


def build_app(
    *,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    server: str | None = None,
    language: str | None = None,
) -> ChatViewApp:
    """Make the app from the client configuration and the stored settings.

    The order of precedence for the server: ``server`` (this run only), then
    the settings screen's choice, then the client configuration.

    Raises:
        chatview_client.ConfigError: the configuration is unusable.
    """
    base = load_config(config_path, data_dir=data_dir)

    def config_for(settings: AppSettings) -> ClientConfig:
        return load_config(
            config_path,
            data_dir=base.data_dir,
            grpc_target=server or settings.grpc_target,
            grpc_tls=settings.grpc_tls if settings.grpc_tls is not None else None,
        )

    def session_factory(settings: AppSettings) -> ClientSession:
        return ClientSession(config_for(settings))

    app = ChatViewApp(
        data_dir=base.data_dir,
        session_factory=session_factory,
        fonts=discover_font_chain(),
        default_target=base.grpc_target,
        max_message_chars=base.max_message_chars,
    )
    if language is not None:
        tr.translator.switch(language)
        app.language = language
    return app
