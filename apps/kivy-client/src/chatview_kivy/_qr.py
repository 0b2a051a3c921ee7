"""QR codes of public keys, as pixels a Kivy texture can take."""

from __future__ import annotations

import attrs
import qrcode
import qrcode.constants

__all__ = ["QrImage", "qr_image"]


@attrs.frozen
class QrImage:
    """A square QR code as RGBA bytes, rows from the bottom up as OpenGL wants.

    Attributes:
        size: width and height in pixels.
        rgba: ``size * size * 4`` bytes.
        modules: the number of modules per side, quiet zone included.
    """

    size: int
    rgba: bytes = attrs.field(repr=False)
    modules: int


def qr_image(text: str, scale: int = 8, border: int = 4) -> QrImage:
    """Encode ``text`` (a public key) as a black-on-white QR code.

    Args:
        text: what the code holds.
        scale: pixels per module; a phone camera reads 8 from a screen well.
        border: quiet-zone modules around the code; scanners want 4.

    Raises:
        ValueError: when ``scale`` or ``border`` is out of range.
    """
    if scale < 1 or border < 0:
        msg = f"scale must be at least 1 and border at least 0, got {scale} and {border}"
        raise ValueError(msg)
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=border
    )
    code.add_data(text)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()

    black = b"\x00\x00\x00\xff" * scale
    white = b"\xff\xff\xff\xff" * scale
    rows: list[bytes] = []
    # OpenGL textures start at the bottom row.
    for modules in reversed(matrix):
        line = b"".join(black if dark else white for dark in modules)
        rows.extend([line] * scale)
    side = len(matrix)
    return QrImage(size=side * scale, rgba=b"".join(rows), modules=side)
