"""ChatView for desktops and tablets: a Kivy app on top of ``chatview_client``.

``main`` runs the app (``chatview-kivy``). The rest of this surface is what the
app is made of and can be used without a window: the view models that turn the
client library's values and events into display rows, the text helpers that
never split a character, the font chain that picks a face per character, and
the translator. Importing the package does not import Kivy.
"""

from ._errors import Problem, SessionError, describe_error
from ._fonts import BUNDLED_FONT, FontChain, FontFace, discover_font_chain
from ._format import format_list_time, format_message_time, unread_badge
from ._i18n import LANGUAGES, Translator, detect_system_language, normalize_language
from ._main import main
from ._settings import AppSettings, load_settings, save_settings
from ._text import chunk_for_display, graphemes, preview_text, short_key, truncate_graphemes
from ._viewmodels import (
    Banner,
    ChatModel,
    ConnectionModel,
    FriendListModel,
    FriendRow,
    MessageRow,
    Side,
    check_new_pin,
    check_outgoing,
)

__version__ = "0.1.0"

__all__ = [
    "BUNDLED_FONT",
    "LANGUAGES",
    "AppSettings",
    "Banner",
    "ChatModel",
    "ConnectionModel",
    "FontChain",
    "FontFace",
    "FriendListModel",
    "FriendRow",
    "MessageRow",
    "Problem",
    "SessionError",
    "Side",
    "Translator",
    "check_new_pin",
    "check_outgoing",
    "chunk_for_display",
    "describe_error",
    "detect_system_language",
    "discover_font_chain",
    "format_list_time",
    "format_message_time",
    "graphemes",
    "load_settings",
    "main",
    "normalize_language",
    "preview_text",
    "save_settings",
    "short_key",
    "truncate_graphemes",
    "unread_badge",
]
