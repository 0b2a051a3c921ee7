"""Kivy widgets and the Kivy side of fonts and translations.

Importing this module imports Kivy (but opens no window); the view models and
everything else in the package stay Kivy-free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.clock import Clock
from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.event import Observable
from kivy.graphics.texture import Texture
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    ListProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.label import Label
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivy.uix.textinput import TextInput

from ._fonts import FontChain
from ._i18n import Translator
from ._qr import qr_image

__all__ = [
    "Bubble",
    "ComposerInput",
    "FallbackLabel",
    "FriendRowView",
    "KvTranslator",
    "QrCode",
    "register_fonts",
    "set_font_chain",
    "tr",
]

_chain: FontChain | None = None


def register_fonts(chain: FontChain) -> None:
    """Make the chain's primary face Kivy's default font and register the fallbacks.

    Re-registering ``DEFAULT_FONT`` (Roboto) changes the font of every
    widget that names none, popups and text inputs included, so no widget
    is left drawing Chinese with a Latin-only font.
    """
    primary = str(chain.primary.path)
    # The bundled face has one weight; Kivy synthesizes bold and italic.
    LabelBase.register(DEFAULT_FONT, primary, primary, primary, primary)
    for face in chain.fallbacks:
        LabelBase.register(face.name, str(face.path))
    set_font_chain(chain)


def set_font_chain(chain: FontChain) -> None:
    """Set the chain that ``FallbackLabel`` uses for its markup."""
    global _chain
    _chain = chain


class FallbackLabel(Label):  # type: ignore[misc]
    """A label that draws each character with a face that has it.

    Set ``plain`` instead of ``text``: the label escapes it and wraps runs the
    primary face lacks (emoji, rare hanzi) in ``[font=...]`` markup.
    """

    plain = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("markup", True)
        super().__init__(**kwargs)
        self.bind(plain=self._update_text)
        self._update_text(self, self.plain)

    def _update_text(self, _instance: object, value: str) -> None:
        self.text = _chain.markup(value) if _chain is not None else value


class KvTranslator(Observable):  # type: ignore[misc]
    """Wraps a ``Translator`` so that kv rules calling ``tr._`` re-run on a language switch.

    Kv binds a rule to every object in its expression that is an
    ``Observable``, by calling ``fbind`` with the attribute name; for ``_``
    this class keeps the callback and calls it after a language switch.
    """

    def __init__(self, translator: Translator) -> None:
        super().__init__()
        self.translator = translator
        self._observers: dict[int, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = {}
        self._next_uid = 1
        translator.add_listener(self._on_switch)

    @property
    def language(self) -> str:
        """The current language code."""
        return self.translator.language

    def _(self, msgid: str) -> str:
        """Translate ``msgid`` into the current language."""
        return self.translator._(msgid)

    def _on_switch(self, _language: str) -> None:
        for func, largs, kwargs in list(self._observers.values()):
            func(*largs, None, None, **kwargs)

    def fbind(self, name: str, func: Callable[..., Any], *largs: Any, **kwargs: Any) -> int:
        """Remember a kv callback for ``_``; other names are not observable."""
        if name != "_":
            return 0
        uid = self._next_uid
        self._next_uid += 1
        self._observers[uid] = (func, largs, kwargs)
        return uid

    def funbind(self, name: str, func: Callable[..., Any], *largs: Any, **kwargs: Any) -> None:
        """Forget a kv callback registered with ``fbind``."""
        for uid, entry in list(self._observers.items()):
            if entry == (func, largs, kwargs):
                del self._observers[uid]

    def unbind_uid(self, name: str, uid: int) -> None:
        """Forget the kv callback ``fbind`` returned ``uid`` for (when its widget dies)."""
        self._observers.pop(uid, None)


# The translator every kv rule and screen uses; kv imports it as ``tr``.
tr = KvTranslator(Translator())


class ComposerInput(TextInput):  # type: ignore[misc]
    """The message box: Enter sends, Shift+Enter starts a new line."""

    # XXX: a TextInput takes no markup, so emoji typed here show as boxes until
    # sent; gui_driver's chat_samples_zh screenshot shows the sent bubbles.

    __events__ = ("on_send",)

    def keyboard_on_key_down(
        self, window: Any, keycode: tuple[int, str], text: str | None, modifiers: list[str]
    ) -> bool:
        """Turn a plain Enter into ``on_send``; everything else types as usual."""
        key, _name = keycode
        if key in (13, 271) and "shift" not in modifiers:
            self.dispatch("on_send")
            return True
        return bool(super().keyboard_on_key_down(window, keycode, text, modifiers))

    def on_send(self) -> None:
        """Default handler; the chat screen binds its own."""


class Bubble(BoxLayout):  # type: ignore[misc]
    """One message: text pieces, time and delivery state, aligned by author."""

    pieces = ListProperty([])
    time = StringProperty("")
    status = StringProperty("")
    own = BooleanProperty(False)
    can_retry = BooleanProperty(False)
    client_message_id = StringProperty("")
    bubble_color = ColorProperty([1, 1, 1, 1])
    security = StringProperty("")
    undecryptable = BooleanProperty(False)

    __events__ = ("on_retry",)

    def on_retry(self) -> None:
        """Default handler; the chat screen binds its own."""


class FriendRowView(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):  # type: ignore[misc]
    """One conversation in the list (a RecycleView view)."""

    public_key = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    online = BooleanProperty(False)
    badge = StringProperty("")
    preview = StringProperty("")
    time = StringProperty("")
    added = BooleanProperty(True)
    screen = ObjectProperty(None, allownone=True)


class QrCode(Image):  # type: ignore[misc]
    """Shows ``data`` as a QR code texture."""

    data = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(data=self._redraw)
        Clock.schedule_once(lambda _dt: self._redraw(self, self.data))

    def _redraw(self, _instance: object, value: str) -> None:
        if not value:
            self.texture = None
            return
        image = qr_image(value)
        texture = Texture.create(size=(image.size, image.size), colorfmt="rgba")
        texture.blit_buffer(image.rgba, colorfmt="rgba", bufferfmt="ubyte")
        # Keep modules sharp when scaled up.
        texture.mag_filter = "nearest"
        texture.min_filter = "nearest"
        self.texture = texture
