"""The built wheel installs into a clean virtual environment and every module imports."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent
SOURCE_DIR = PACKAGE_DIR / "src" / "chatview_proto"


def _module_names() -> list[str]:
    names = []
    for path in sorted(SOURCE_DIR.rglob("*.py")):
        parts = path.relative_to(SOURCE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out_dir), str(PACKAGE_DIR)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out_dir.glob("chatview_proto-*.whl")
    return wheel


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory: pytest.TempPathFactory, wheel_path: Path) -> Path:
    environment = tmp_path_factory.mktemp("venv")
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel_path)],
        check=True,
        capture_output=True,
    )
    return python


class TestWheel:
    def test_contains_every_module_and_stub(self, wheel_path: Path) -> None:
        """The wheel ships each generated module, its .pyi stub and the py.typed marker."""
        import zipfile

        with zipfile.ZipFile(wheel_path) as archive:
            names = set(archive.namelist())

        for module in _module_names():
            path = module.replace(".", "/")
            assert f"{path}.py" in names or f"{path}/__init__.py" in names, module
        for stub in SOURCE_DIR.rglob("*.pyi"):
            assert stub.relative_to(SOURCE_DIR.parent).as_posix() in names
        assert "chatview_proto/py.typed" in names

    def test_every_module_imports(self, clean_python: Path) -> None:
        """Importing every module from the installed wheel succeeds outside the workspace."""
        modules = _module_names()
        script = (
            "import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    module = importlib.import_module(name)\n"
            "    assert 'site-packages' in module.__file__, module.__file__\n"
            "print(len(sys.modules))\n"
        )

        result = subprocess.run(
            [str(clean_python), "-c", script],
            capture_output=True,
            text=True,
            check=False,
            cwd=clean_python.parent,
        )

        assert 0 == result.returncode, result.stderr
