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


def test_a_proto_protoc_refuses_is_one_line_and_leaves_the_stubs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """protoc's own message was followed by a traceback, where main() promises one line and
    exit 2 (a review, 2026-12-06)."""
    import shutil

    from service import gen_stubs

    proto_root = tmp_path / "proto"
    shutil.copytree(gen_stubs.PROTO_ROOT, proto_root)
    broken = proto_root / gen_stubs.PROTO_FILES[0]
    broken.write_text(broken.read_text() + "\nmessage {\n")
    before = {p: p.read_bytes() for p in STUB_ROOT.rglob("*_pb2*.py*")}
    monkeypatch.setattr(gen_stubs, "PROTO_ROOT", proto_root)
    assert gen_stubs.main() == 2
    assert capsys.readouterr().err.endswith(
        f"gen-stubs: protoc failed on {gen_stubs.PROTO_FILES[0]}; the stubs are unchanged\n"
    )
    assert {p: p.read_bytes() for p in STUB_ROOT.rglob("*_pb2*.py*")} == before
