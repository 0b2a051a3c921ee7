from __future__ import annotations

import chatview_hub


class TestExportedMembers:
    def test_all_is_sorted(self) -> None:
        """``__all__`` is in sorted order."""
        assert sorted(chatview_hub.__all__) == chatview_hub.__all__

    def test_all_is_complete(self) -> None:
        """Every public name of the package is in ``__all__``."""
        public = {
            name
            for name in dir(chatview_hub)
            if not name.startswith("_")
            and not isinstance(getattr(chatview_hub, name), type(chatview_hub))
        }
        assert public == set(chatview_hub.__all__)

    def test_members_show_public_module(self) -> None:
        """Exported classes and functions claim ``chatview_hub`` as their module."""
        for name in chatview_hub.__all__:
            assert getattr(chatview_hub, name).__module__ == "chatview_hub", name
