"""The installed package: typed for type checkers (PEP 561), and whole in a wheel."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

import pytest

import client
import gp
import service
from client.api import LatencyClient
from client.cli import EXTRA_OF_MODULE as CLIENT_EXTRA_OF
from gp.spaces.nasbench201 import all_archs
from service.cli import EXTRA_OF_MODULE as SERVICE_EXTRA_OF
from tests.helpers import run_python

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


def without(modules: set[str], then: str) -> str:
    """Python code that runs ``then`` with ``modules`` (top-level names) not installed."""
    return _refusing(f"name.partition('.')[0] in {sorted(modules)!r}", then)


def _refusing(condition: str, then: str) -> str:
    """Python code that runs ``then`` with every module whose ``name`` meets ``condition`` (a
    Python expression) refused as not installed, by a finder ahead of the others."""
    return f"""
import sys

class Refusing:
    def find_spec(self, name, path=None, target=None):
        if {condition}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Refusing())
{then}
"""


def _optional_modules() -> set[str]:
    """Every top-level module an extra installs (the client's core lacks them), and gp."""
    return {"gp", *CLIENT_EXTRA_OF, *SERVICE_EXTRA_OF}


def test_the_client_imports_with_its_core_dependencies_alone() -> None:
    """The client installs without the modelling stack (pyproject.toml's extras; design.md:
    it may not import gp): `client measurements` imported service.archs, hence gp and torch,
    inside the command, and ended in a traceback without them (a design review). Every client
    module, and every module of the service it imports, imports with the extras' modules
    missing (the commands that need them import them when they run)."""
    imported = _modules_imported_by(ROOT / "client")
    assert not {name for name in imported if name.partition(".")[0] == "gp"}
    optional = _optional_modules()
    services = [name for name in imported if name.partition(".")[0] == "service"]
    modules = sorted([*_core_side(optional), *services])
    assert {"client.cli", "client.api", "client.measure.command", "client.report"} <= set(modules)
    importing = f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)"
    done = run_python(["-c", without(optional, importing)])
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("folders", "extra_of"),
    [(("client",), CLIENT_EXTRA_OF), (("service", "gp"), SERVICE_EXTRA_OF)],
    ids=["client", "service"],
)
def test_each_module_beyond_the_core_is_installed_by_the_extra_its_commands_name(
    folders: tuple[str, ...], extra_of: dict[str, str]
) -> None:
    """A command that lacks a module names the extra that installs it (EXTRA_OF_MODULE): each
    module the code imports is a core dependency's or one of those, and that extra lists it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    provided = metadata.packages_distributions()
    for module in sorted(set().union(*(_third_party(ROOT / f) for f in folders))):
        distributions = {_normalised(d) for d in provided.get(module, [])}
        assert distributions, f"{module}: no installed distribution provides it"
        if distributions & _named(project["dependencies"]):
            continue
        assert module in extra_of, f"{module} is in no core dependency nor EXTRA_OF_MODULE"
        assert distributions & _named(extras[extra_of[module]]), (module, extra_of[module])


def not_found(modules: set[str], then: str) -> str:
    """Python code that runs ``then`` with ``modules`` (top-level names) missing as Python
    finds a module not installed: no finder has it (importlib.util.find_spec answers None,
    where :func:`without`'s finder raises)."""
    return f"""
import importlib.machinery, sys

finding = importlib.machinery.PathFinder.find_spec

def find_spec(name, path=None, target=None):
    if name.partition(".")[0] in {sorted(modules)!r}:
        return None
    return finding(name, path, target)

importlib.machinery.PathFinder.find_spec = staticmethod(find_spec)
{then}
"""


@pytest.mark.parametrize("missing_as", [without, not_found], ids=["refused", "not-found"])
@pytest.mark.parametrize(
    ("missing", "command", "extra"),
    [
        ("matplotlib", ["report", "-d", "no-such-device", "-m", "{csv}", "-o", "{png}"], "report"),
        # psutil is installed: torch alone was found missing after the first progress bar.
        ("torch", ["measure", "-d", "new-device", "--register", "-n", "1"], "measure"),
    ],
    ids=["report", "measure"],
)
def test_a_client_command_that_lacks_a_module_names_the_extra_before_it_does_anything(
    missing: str,
    command: list[str],
    extra: str,
    missing_as: Callable[[set[str], str], str],
    target: str,
    tmp_path: Path,
) -> None:
    """`client report` where matplotlib is not installed ended in a traceback, and then (a
    client-only review) said so only after its calls: a wrong device was reported first."""
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{all_archs()[7]},5.0\n")
    png = tmp_path / "r.png"
    args = [a.format(csv=measured, png=png) for a in command]
    argv = ["client", "--target", target, *args]
    running = f"import sys\nsys.argv = {argv!r}\nfrom client.__main__ import main\nmain()"
    done = run_python(["-c", missing_as({missing}, running)])
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"error: {missing} is not installed: pip install 'nas-latency-estimator[{extra}]'"
        " installs it"
    ]
    assert not png.exists()
    with LatencyClient(target) as latency:
        assert "new-device" not in {device.name for device in latency.devices()}


def broken(module: str, then: str) -> str:
    """Python code that runs ``then`` where ``module`` is installed but fails to import (a
    shared library it loads is missing): found, so a lookup alone takes it for installed."""
    return f"""
import importlib.abc, importlib.machinery, sys

class Broken(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError("libbroken.so: cannot open shared object file")

class Finder:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            return importlib.machinery.ModuleSpec(name, Broken())

sys.meta_path.insert(0, Finder())
{then}
"""


@pytest.mark.parametrize(
    ("failing", "device", "last_line"),
    [
        # Installed but broken (a shared library missing): found, so a lookup took it for
        # installed, and the wrong device was reported first.
        (
            lambda then: broken("matplotlib", then),
            "no-such-device",
            "ImportError: libbroken.so: cannot open shared object file",
        ),
        # matplotlib installed, a submodule missing: "pip install ...[report]" changes nothing.
        (
            lambda then: without_submodule("matplotlib.figure", then),
            "pixel3",
            "ModuleNotFoundError: No module named 'matplotlib.figure'",
        ),
        # matplotlib's own dependency: no extra of this project installs it.
        (
            lambda then: without({"kiwisolver"}, then),
            "pixel3",
            "ModuleNotFoundError: No module named 'kiwisolver'",
        ),
    ],
    ids=["broken", "submodule", "dependency"],
)
def test_a_client_command_whose_extra_fails_to_import_otherwise_ends_in_its_traceback(
    failing: Callable[[str], str], device: str, last_line: str, target: str, tmp_path: Path
) -> None:
    """Only a module an extra installs gets the install hint; any other failure is a broken
    install or a bug, which its traceback shows."""
    measured = tmp_path / "measured.csv"
    measured.write_text(f"arch,latency_ms\n{all_archs()[7]},5.0\n")
    argv = ["client", "--target", target, "report", "-d", device, "-m", str(measured),
            "-o", str(tmp_path / "r.png")]  # fmt: skip
    running = f"import sys\nsys.argv = {argv!r}\nfrom client.__main__ import main\nmain()"
    done = run_python(["-c", failing(running)])
    assert done.returncode == 1, done.stderr
    assert "is not installed" not in done.stderr and "no-such-device" not in done.stderr
    assert done.stderr.splitlines()[-1] == last_line


def test_the_example_without_torch_names_the_extra_that_installs_it(
    target: str, help_dataset_dir: Path
) -> None:
    """It reads HELP's tables with torch, which the client alone lacks: a traceback before."""
    argv = [str(ROOT / "examples" / "latency_constrained_search.py"), "--target", target,
            "--dataset", str(help_dataset_dir)]  # fmt: skip
    running = (
        f"import runpy, sys\nsys.argv = {argv!r}\nrunpy.run_path(sys.argv[0], run_name='__main__')"
    )
    done = run_python(["-c", without({"torch"}, running)])
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "error: the simulated device reads HELP's tables with torch: pip install"
        " 'nas-latency-estimator[measure]' installs it"
    )


def test_the_example_s_table_reader_needs_torch_alone() -> None:
    """With [measure] (torch, no gpytorch) the example failed again: gp.data imported gp.model
    for the latency range (a client-only review)."""
    reading = "import gp.data, gp.spaces.nasbench201"
    done = run_python(["-c", without({"gpytorch", "linear_operator", "scipy"}, reading)])
    assert done.returncode == 0, done.stderr


def test_a_service_command_that_lacks_a_module_names_the_extra_that_installs_it(
    tmp_path: Path,
) -> None:
    """`python -m service serve` with only the client installed ended in a traceback; it
    creates no store either."""
    argv = ["serve", "--address", "127.0.0.1:0", "--store", str(tmp_path / "s.sqlite")]
    running = f"import sys\nfrom service.cli import main\nsys.exit(main({argv!r}))"
    done = run_python(["-c", without({"torch"}, running)])
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].endswith(
        "ERROR service: cannot run serve: torch is not installed: pip install"
        " 'nas-latency-estimator[server]' installs it"
    )
    assert list(tmp_path.iterdir()) == []


def without_submodule(module: str, then: str) -> str:
    """Python code that runs ``then`` where the submodule ``module`` (``torch.nn``) is missing
    though its package is installed: a broken install, or a bug that names a module no
    release has."""
    return _refusing(f"name == {module!r}", then)


def test_a_service_command_missing_a_submodule_of_an_installed_extra_ends_in_a_traceback(
    tmp_path: Path,
) -> None:
    """torch is installed: "pip install ...[server]" would change nothing."""
    argv = ["serve", "--address", "127.0.0.1:0", "--store", str(tmp_path / "s.sqlite")]
    running = f"import sys\nfrom service.cli import main\nsys.exit(main({argv!r}))"
    done = run_python(["-c", without_submodule("torch.nn", running)])
    assert done.returncode == 1, done.stderr
    assert "is not installed" not in done.stderr
    assert done.stderr.splitlines()[-1] == "ModuleNotFoundError: No module named 'torch.nn'"


def test_a_service_command_missing_a_core_dependency_ends_in_a_traceback(
    tmp_path: Path,
) -> None:
    """numpy is the client's dependency too: missing, the install is broken, not short of an
    extra."""
    argv = ["serve", "--address", "127.0.0.1:0", "--store", str(tmp_path / "s.sqlite")]
    running = f"import sys\nfrom service.cli import main\nsys.exit(main({argv!r}))"
    done = run_python(["-c", without({"numpy"}, running)])
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == "ModuleNotFoundError: No module named 'numpy'"


def _third_party(path: Path) -> set[str]:
    """The top-level modules outside the standard library and this project that ``path`` (a
    file or folder) imports."""
    ours = {"gp", "service", "client", "tests"}
    tops = {name.partition(".")[0] for name in _modules_imported_by(path)}
    return tops - ours - set(sys.stdlib_module_names)


def _named(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` name, normalised."""
    return {_normalised(re.split(r"[\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements}


def _normalised(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower().strip()


def _core_side(optional: set[str]) -> list[str]:
    """The client's modules that import none of ``optional`` when imported, directly or
    through another client module: all but the torch and psutil side of ``measure``
    (client.measure._modules, .descriptor, .loop), which its command imports as it runs."""
    files = {
        ".".join(("client", *path.relative_to(ROOT / "client").with_suffix("").parts)).removesuffix(
            ".__init__"
        ): path
        for path in (ROOT / "client").rglob("*.py")
    }
    imports = {module: _top_level_imports(path) for module, path in files.items()}
    extra_side: set[str] = set()
    while True:
        more = {
            module
            for module, names in imports.items()
            if {name.partition(".")[0] for name in names} & optional or names & extra_side
        }
        if more <= extra_side:
            return sorted(set(files) - extra_side)
        extra_side |= more


def _top_level_imports(path: Path) -> set[str]:
    """The modules the file ``path`` imports when it is imported (its body's imports)."""
    return _imported_names(ast.parse(path.read_text()).body)


def _modules_imported_by(path: Path) -> set[str]:
    """Every module ``path`` (a file, or a folder's files) imports by absolute name, at the top
    or in a function."""
    files = [path] if path.is_file() else path.rglob("*.py")
    return {
        name for file in files for name in _imported_names(ast.walk(ast.parse(file.read_text())))
    }


def _imported_names(nodes: Iterable[ast.AST]) -> set[str]:
    """The modules that the import statements among ``nodes`` name by absolute name."""
    names: set[str] = set()
    for node in nodes:
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


@pytest.mark.parametrize(("command", "extra"), [("measure", "measure"), ("report", "report")])
def test_the_help_of_a_command_that_needs_an_extra_names_it_whole(command: str, extra: str) -> None:
    """The help's markup took "[measure]" for a style tag and printed the install command
    without it."""
    done = run_python(["-m", "client", command, "--help"], env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert f"pip install 'nas-latency-estimator[{extra}]'" in done.stdout
