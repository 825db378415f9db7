"""Generate (or check the freshness of) the committed *_pb2*.py code from proto/*.proto.

`--check` generates into a temporary directory and compares with the committed files,
ignoring the lines that only record which protoc/grpc version generated them, so a newer
grpcio-tools on a fresh machine does not make CI fail on an unchanged schema.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
_VERSION_LINE = re.compile(
    r"(Protobuf Python Version|_runtime_version\.ValidateProtobufRuntimeVersion|"
    r"GRPC_GENERATED_VERSION|^\s*\d+,\s*$|^\s*'',\s*$|^\s*_runtime_version\.Domain)"
)


def _sources() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in PROTO_DIR.glob("*.proto"))


def _generate(out_dir: Path) -> None:
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *_sources(),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def _normalised(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if not _VERSION_LINE.search(line)]


def _generated_files(base: Path) -> dict[str, Path]:
    return {p.name: p for p in (base / "proto").iterdir() if p.name.endswith(GENERATED_SUFFIXES)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _generate(out)
        fresh = _generated_files(out)
        if not opts.check:
            for stale in _generated_files(ROOT).keys() - fresh.keys():
                (PROTO_DIR / stale).unlink()
            for name, path in fresh.items():
                shutil.copyfile(path, PROTO_DIR / name)
            print(f"generated {len(fresh)} files from {len(_sources())} .proto sources")
            return 0
        committed = _generated_files(ROOT)
        problems = [f"missing: proto/{n}" for n in sorted(fresh.keys() - committed.keys())]
        problems += [f"no longer generated: proto/{n}" for n in sorted(committed.keys() - fresh.keys())]
        problems += [
            f"stale: proto/{n}"
            for n in sorted(fresh.keys() & committed.keys())
            if _normalised(fresh[n]) != _normalised(committed[n])
        ]
        if problems:
            print("generated protobuf code is not fresh (run `make proto`):", *problems, sep="\n  ")
            return 1
        print(f"generated protobuf code is fresh ({len(fresh)} files)")
        return 0


if __name__ == "__main__":
    sys.exit(main())
