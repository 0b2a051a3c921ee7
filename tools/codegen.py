"""Generate the chatview_proto package from the .proto files in proto/.

protoc names Python modules after the .proto paths (`chatview/auth.proto` becomes
`chatview.auth_pb2`). The generated modules are moved under `chatview_proto` so the
import name cannot collide with other code generated from the same files; only
import statements and module names change, never the protobuf package or the
descriptor file names, which are what travel on the wire.

Usage:
    python tools/codegen.py           # rewrite the committed modules
    python tools/codegen.py --check   # exit 1 when they differ from a fresh build
"""

from __future__ import annotations

import argparse
import filecmp
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
PACKAGE_DIR = ROOT / "packages" / "chatview-proto" / "src" / "chatview_proto"

# Hand-written files inside the package that generation must leave alone.
KEPT_FILES = {"__init__.py", "common/__init__.py", "py.typed"}

# Module references to move: `chatview.auth_pb2`, `chatview.common.types_pb2`,
# `from chatview import ...`, `from chatview.common import ...`. Strings such as the
# method path "/chatview.auth.AuthService/Login" do not match and stay as they are.
_MODULE_REFERENCE = re.compile(r"\bchatview\.(?=common\b|\w+_pb2\b)")
_FROM_ROOT_IMPORT = re.compile(r"^from chatview import ", re.MULTILINE)


def _proto_files() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def _run_protoc(output_dir: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO_DIR}",
        f"--python_out={output_dir}",
        f"--grpc_python_out={output_dir}",
        f"--mypy_out={output_dir}",
        f"--mypy_grpc_out={output_dir}",
        *(str(path.relative_to(PROTO_DIR)) for path in _proto_files()),
    ]
    # mypy-protobuf reports each file it writes on stderr; only failures matter here.
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"protoc failed with exit status {result.returncode}")


def _rewrite_imports(text: str, *, is_stub: bool) -> str:
    text = _FROM_ROOT_IMPORT.sub("from chatview_proto import ", text)
    if is_stub:
        return _MODULE_REFERENCE.sub("chatview_proto.", text)

    # In a .py module the serialized descriptor also contains "chatview.common"
    # (as the type name ".chatview.common.FriendInfo"), which must stay as it is, so
    # only import lines and the builder's module-name argument are touched.
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith(("from chatview.", "import chatview.", "_builder.")):
            line = _MODULE_REFERENCE.sub("chatview_proto.", line)
        lines.append(line)
    return "".join(lines)


def generate(target: Path) -> None:
    """Write the generated modules, with rewritten imports, into `target`."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        _run_protoc(scratch_dir)
        generated_root = scratch_dir / "chatview"
        for source in sorted(generated_root.rglob("*")):
            if not source.is_file():
                continue
            relative = source.relative_to(generated_root)
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(
                _rewrite_imports(source.read_text(), is_stub=source.suffix == ".pyi")
            )


def _generated_files(directory: Path) -> set[str]:
    return {
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.relative_to(directory).as_posix() not in KEPT_FILES
    }


def check() -> int:
    """Compare the committed modules with a fresh build; return the exit status."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch)
        generate(fresh)
        expected = _generated_files(fresh)
        committed = _generated_files(PACKAGE_DIR)
        problems = [f"missing: {name}" for name in sorted(expected - committed)]
        problems += [f"not from any .proto: {name}" for name in sorted(committed - expected)]
        problems += [
            f"out of date: {name}"
            for name in sorted(expected & committed)
            if not filecmp.cmp(fresh / name, PACKAGE_DIR / name, shallow=False)
        ]
    if problems:
        print("Generated code differs from proto/; run `nox -s codegen` and commit:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print(f"Generated code is current ({len(expected)} files).")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="only compare the committed modules with a fresh build; exit 1 on any difference",
    )
    arguments = parser.parse_args()
    if arguments.check:
        return check()

    for name in _generated_files(PACKAGE_DIR):
        (PACKAGE_DIR / name).unlink()
    generate(PACKAGE_DIR)
    count = len(_generated_files(PACKAGE_DIR))
    print(f"Generated {count} files into {PACKAGE_DIR.relative_to(ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
