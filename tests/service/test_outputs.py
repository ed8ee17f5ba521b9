"""Files the tools write: checked before the work, written whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.outputs import write_atomically


def test_an_interrupted_write_leaves_the_previous_file_and_no_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, Ctrl-C or a full disk mid-write left ``<path>.tmp`` behind, cut off."""
    out = tmp_path / "load.json"
    out.write_text('{"previous": "run"}')
    write_text = Path.write_text

    def cut_off(self: Path, text: str, *args, **kwargs) -> int:
        write_text(self, text[:5], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", cut_off)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(out, '{"new": "run"}')
    monkeypatch.undo()
    assert out.read_text() == '{"previous": "run"}'
    assert [p.name for p in tmp_path.iterdir()] == ["load.json"]
