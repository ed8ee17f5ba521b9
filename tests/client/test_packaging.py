"""The installed package: typed for type checkers (PEP 561), and whole in a wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

import client
import gp
import service

ROOT = Path(__file__).resolve().parents[2]


def test_the_client_and_the_stubs_it_names_ship_a_py_typed_marker() -> None:
    # Without the markers, mypy and pyright take a user's LatencyClient calls as untyped.
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    # gp too: the example, and users of the model, import it (a review, 2026-12-06).
    for package in (client, service, gp):
        name = package.__name__
        assert "py.typed" in package_data.get(name, []), f"{name}: py.typed not in package-data"
        assert (Path(package.__file__).parent / "py.typed").is_file(), f"{name}: no py.typed"


def test_dir_lists_the_lazily_loaded_names() -> None:
    # They are loaded on first use, so dir(client) (a REPL's completion) left them all out.
    assert {"LatencyClient", "Predictions", "NotFoundError"} <= set(dir(client))


#: Top-level packages of the modelling stack, which the client must do without.
MODELLING = ("gp", "torch", "gpytorch", "linear_operator")

REFUSING_MODELLING = """
import importlib, sys

class Refused:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {modelling!r}:
            raise ModuleNotFoundError(f"refused: {{name}}")

sys.meta_path.insert(0, Refused())
for name in {modules!r}:
    importlib.import_module(name)
"""


def test_the_client_imports_nothing_of_the_modelling_stack_even_inside_a_command() -> None:
    """The client may not import gp (design.md), so that it can go without the modelling
    stack: `client measurements` imported service.archs, hence gp and torch, inside the
    command, and ended in a traceback without them (a design review)."""
    imported = _modules_imported_by(ROOT / "client")
    assert not {name for name in imported if name.split(".")[0] == "gp"}
    services = sorted(name for name in imported if name.split(".")[0] == "service")
    code = REFUSING_MODELLING.format(modelling=MODELLING, modules=services)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def _modules_imported_by(package: Path) -> set[str]:
    """Every module the package's files import by absolute name, at the top or in a function."""
    import ast

    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


def test_the_wheel_holds_every_module_stub_and_marker_and_both_commands(tmp_path: Path) -> None:
    """CI installs editable, which reads the source tree; the Docker image installs a wheel,
    which holds only what the packaging lists: a module, generated stub or marker left out of
    it would fail there alone, at import."""
    listed, source = _tracked_copy(tmp_path / "source")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        held = set(archive.namelist())
        (entry_points,) = [n for n in held if n.endswith(".dist-info/entry_points.txt")]
        commands = archive.read(entry_points).decode()
    shipped = {
        name
        for name in listed
        if name.split("/")[0] in {"gp", "service", "client"}
        and (name.endswith((".py", ".pyi")) or name.endswith("/py.typed"))
    }
    assert "service/_proto/latency/v1/latency_pb2_grpc.py" in shipped
    assert shipped - held == set()
    assert "latency-service = service.__main__:main" in commands
    assert "client = client.__main__:main" in commands


def test_the_sdist_holds_the_proto_docs_and_example_and_no_tests(tmp_path: Path) -> None:
    """It held no .proto (the wire's contract, gen-stubs' input), none of the docs and the
    example the README links to, and tests/test_environment.py without the package it
    imports (a review, 2026-12-06)."""
    _, source = _tracked_copy(tmp_path / "source")
    subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta;"
         " build_meta.build_sdist(sys.argv[1])", str(tmp_path / "dist")],
        cwd=source, check=True, capture_output=True,
    )  # fmt: skip
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        held = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"proto/latency/v1/latency.proto", "docs/model-notes.md", "MANIFEST.in"} <= held
    assert "examples/latency_constrained_search.py" in held
    assert not any(name.startswith("tests") for name in held)


def _tracked_copy(folder: Path) -> tuple[list[str], Path]:
    """The checkout's tracked files (their names, and ``folder`` holding a copy of them): a
    build writes build/ and *.egg-info beside its sources."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout, to build from its tracked files alone")
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    return listed, folder
