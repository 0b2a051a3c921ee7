"""QR codes of keys as pixels."""

from __future__ import annotations

import pytest

from chatview_kivy._qr import qr_image

KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


class TestQrImage:
    def test_size(self) -> None:
        """The image is modules times scale pixels square, four bytes each."""
        image = qr_image(KEY, scale=4, border=4)
        assert image.size == image.modules * 4
        assert image.size * image.size * 4 == len(image.rgba)

    def test_quiet_zone_white_finder_black(self) -> None:
        """The corner is quiet-zone white; the finder pattern inside it is black."""
        image = qr_image(KEY, scale=1, border=4)
        top_row = image.size - 1  # rows are stored bottom-up

        def pixel(x: int, y_from_top: int) -> bytes:
            offset = ((top_row - y_from_top) * image.size + x) * 4
            return image.rgba[offset : offset + 4]

        assert b"\xff\xff\xff\xff" == pixel(0, 0)
        assert b"\x00\x00\x00\xff" == pixel(4, 4)

    def test_bad_scale(self) -> None:
        """A zero scale is refused."""
        with pytest.raises(ValueError, match="scale must be at least 1"):
            qr_image(KEY, scale=0)
