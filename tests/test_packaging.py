"""The wheel ships what SPEC.md promises: schemas, built-in scenarios, the catalog, the CLI.

A required proof, deliberately not behind any marker: it runs with the default test run.
The wheel is built once per module with ``python -m build --wheel --no-isolation`` (hatchling
comes from the venv, so no network is needed).
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheels = list(out.glob("mockrouter-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _dist_info_file(wheel: Path, names: set[str], filename: str) -> str:
    [path] = [n for n in names if n.endswith(".dist-info/" + filename)]
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(path).decode()


def test_wheel_ships_every_schema(names: set[str]) -> None:
    schemas = sorted(p.name for p in (ROOT / "schemas").glob("*.schema.json"))
    assert "scenario.schema.json" in schemas
    assert "mockrouter/schemas/scenario.schema.json" in names
    missing = [s for s in schemas if f"mockrouter/schemas/{s}" not in names]
    assert missing == []


def test_wheel_ships_every_builtin_scenario(names: set[str]) -> None:
    scenarios = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))
    assert "echo.yaml" in scenarios
    assert "mockrouter/scenarios/echo.yaml" in names
    missing = [s for s in scenarios if f"mockrouter/scenarios/{s}" not in names]
    assert missing == []


def test_wheel_ships_the_catalog_and_the_package(names: set[str]) -> None:
    assert "mockrouter/data/catalog.yaml" in names
    for module in sorted((ROOT / "mockrouter").rglob("*.py")):
        assert module.relative_to(ROOT).as_posix() in names


def test_wheel_declares_the_console_script(wheel: Path, names: set[str]) -> None:
    parser = configparser.ConfigParser()
    parser.read_string(_dist_info_file(wheel, names, "entry_points.txt"))
    assert parser.has_section("console_scripts")
    assert parser.get("console_scripts", "mockrouter").strip() == "mockrouter.tools.cli:main"


def test_wheel_metadata_matches_pyproject(wheel: Path, names: set[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    metadata = _dist_info_file(wheel, names, "METADATA").splitlines()
    assert "Name: mockrouter" in metadata
    assert f"Version: {project['version']}" in metadata
    assert f"Requires-Python: {project['requires-python']}" in metadata
    assert wheel.name.startswith(f"mockrouter-{project['version']}-")


def test_wheel_registers_the_pytest_plugin(wheel: Path, names: set[str]) -> None:
    """SPEC ("pytest plugin"): installed with the package through the ``pytest11`` entry point."""
    parser = configparser.ConfigParser()
    parser.read_string(_dist_info_file(wheel, names, "entry_points.txt"))
    assert parser.has_section("pytest11"), "no pytest11 entry point: the plugin is not registered"


def test_unpacked_wheel_finds_its_data_inside_the_package(wheel: Path, tmp_path: Path) -> None:
    """Installed from the wheel (no repository around), schemas and scenarios resolve inside the
    package, the built-ins load and ``check`` passes on the shipped scenarios."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    probe = (
        "import mockrouter, mockrouter.core.resources as r\n"
        "from mockrouter.scenario.loader import load_builtin\n"
        "from mockrouter.core.catalog import Catalog\n"
        "print(mockrouter.__file__); print(r.schemas_dir()); print(r.scenarios_dir()); print(len(load_builtin()))\n"
        "Catalog.load()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    module, schemas, scenarios, count = done.stdout.split("\n")[:4]
    package = site / "mockrouter"
    assert Path(module).parent == package
    assert Path(schemas) == package / "schemas"
    assert Path(scenarios) == package / "scenarios"
    assert int(count) == len(list((ROOT / "scenarios").glob("*.yaml")))
    check = subprocess.run(
        [sys.executable, "-m", "mockrouter", "check", str(package / "scenarios")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
