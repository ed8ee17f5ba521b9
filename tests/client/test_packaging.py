"""The installed package tells type checkers that the client library is typed (PEP 561)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import client
import service

ROOT = Path(__file__).resolve().parents[2]


def test_the_client_and_the_stubs_it_names_ship_a_py_typed_marker() -> None:
    # Without the markers, mypy and pyright take a user's LatencyClient calls as untyped.
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    for package in (client, service):
        name = package.__name__
        assert "py.typed" in package_data.get(name, []), f"{name}: py.typed not in package-data"
        assert (Path(package.__file__).parent / "py.typed").is_file(), f"{name}: no py.typed"


def test_dir_lists_the_lazily_loaded_names() -> None:
    # They are loaded on first use, so dir(client) (a REPL's completion) left them all out.
    assert {"LatencyClient", "Predictions", "NotFoundError"} <= set(dir(client))
