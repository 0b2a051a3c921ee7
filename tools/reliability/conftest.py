"""Makes the suite importable as ``reliability`` for its checks (``--import-mode=importlib``
leaves ``sys.path`` alone); mypy over ``tools`` sees it under the same name."""

import sys
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parents[1])
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
