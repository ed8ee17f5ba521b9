"""Regenerates the committed gRPC stubs in ``service/_proto`` from ``proto/``.

Run ``python -m service gen-stubs`` (or ``python -m service.gen_stubs``) after editing
``proto/latency/v1/latency.proto``; ``tests/service/test_stubs_fresh.py`` fails when the
committed stubs differ from what this produces. Needs ``grpcio-tools`` (the ``test`` extra).

The generated ``*_pb2_grpc.py`` imports its messages as ``from latency.v1 import ...``; we
rewrite that to a relative import so the stubs work from inside any package.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "proto"
PROTO_FILES: tuple[str, ...] = ("latency/v1/latency.proto",)
STUB_ROOT = Path(__file__).resolve().parent / "_proto"
_ABSOLUTE_IMPORT = re.compile(r"^from latency\.v1 import (\w+)", re.MULTILINE)


def generate(out_root: Path, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Runs protoc on every file of ``PROTO_FILES`` into ``out_root``.

    Returns:
        The generated files (``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py``).

    Raises:
        RuntimeError: protoc failed.
    """
    from grpc_tools import protoc  # only needed here, not at run time

    include = Path(protoc.__file__).parent / "_proto"
    out_root.mkdir(parents=True, exist_ok=True)
    for proto in PROTO_FILES:
        args = [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{include}",
            f"--python_out={out_root}",
            f"--pyi_out={out_root}",
            f"--grpc_python_out={out_root}",
            str(proto_root / proto),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {proto}")
    generated = sorted(p for p in out_root.rglob("*_pb2*.py*") if p.is_file())
    for path in generated:
        if path.name.endswith("_pb2_grpc.py"):
            text = path.read_text()
            path.write_text(_ABSOLUTE_IMPORT.sub(r"from . import \1", text))
    return [p.relative_to(out_root) for p in generated]


def main() -> int:
    """Regenerates the stubs in place (via a temporary folder, copying only the results);
    2, with one line on stderr, where that cannot be done."""
    # The .proto first: outside a checkout (an installed wheel) no tool helps, and the first
    # line had said to install one (a review, 2026-12-06).
    problem = _missing_proto() or _missing_tool()
    if problem is not None:
        print(f"gen-stubs: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        try:
            generated = generate(Path(tmp), PROTO_ROOT)
        except RuntimeError as exc:  # protoc has said why above: a traceback added nothing
            print(f"gen-stubs: {exc}; the stubs are unchanged", file=sys.stderr)
            return 2
        for rel in generated:
            target = STUB_ROOT / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((Path(tmp) / rel).read_bytes())
            print(f"wrote {target.relative_to(REPO)}")
    return 0


def _missing_tool() -> str | None:
    """What to install when protoc's Python package is absent (it is a test extra only)."""
    try:
        import grpc_tools  # noqa: F401
    except ImportError:
        return "grpcio-tools is not installed: pip install grpcio-tools (or the test extra)"
    return None


def _missing_proto() -> str | None:
    """Why the sources are not there: an installed package has no proto/ beside it, and
    protoc then printed a path error and a traceback."""
    missing = [p for p in PROTO_FILES if not (PROTO_ROOT / p).is_file()]
    if missing:
        return (
            f"no {PROTO_ROOT / missing[0]}: run gen-stubs in a checkout of the repository,"
            " whose proto/ it reads"
        )
    return None


if __name__ == "__main__":
    sys.exit(main())
