"""``python -m chatview_cli`` runs the ``chatview`` command."""

from ._main import main

main()
