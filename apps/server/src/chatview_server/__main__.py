"""``python -m chatview_server``: the same as the ``chatview-server`` command."""

from chatview_server._cli import main

raise SystemExit(main())
