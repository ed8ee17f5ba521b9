"""The committed stubs in service/_proto are exactly what protoc makes of proto/ today."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.gen_stubs import STUB_ROOT, generate

pytest.importorskip("grpc_tools")


def test_committed_stubs_match_proto(tmp_path: Path) -> None:
    generated = generate(tmp_path)
    assert generated, "protoc produced nothing"
    stale = [
        str(rel)
        for rel in generated
        if not (STUB_ROOT / rel).exists()
        or (STUB_ROOT / rel).read_bytes() != (tmp_path / rel).read_bytes()
    ]
    assert not stale, f"stale stubs {stale}: run `python -m service gen-stubs` and commit them"


def test_stubs_import_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from service._proto.latency.v1 import latency_pb2_grpc;"
        "sys.exit('torch' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
