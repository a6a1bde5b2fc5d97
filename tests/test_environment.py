"""environment.yml (conda users) and pyproject.toml (pip users) describe the same environment."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {}


def _split(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", spec)
    name = re.sub(r"\[.*\]", "", m.group(1)).lower().replace("_", "-")
    return name, m.group(2).replace(" ", "")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["dev"]
    return dict(_split(d) for d in deps)


def _conda() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = _split(dep)
            out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


def test_every_pyproject_dependency_is_in_environment_yml_with_the_same_bounds():
    conda = _conda()
    for name, spec in _pyproject().items():
        assert name in conda, f"{name} is in pyproject.toml but missing from environment.yml"
        assert conda[name] == spec, f"{name}: pyproject says '{spec}', environment.yml says '{conda[name]}'"


def test_environment_yml_has_nothing_pyproject_lacks():
    extra = set(_conda()) - set(_pyproject()) - {"python", "pip"}
    assert not extra, f"environment.yml lists packages pyproject.toml does not: {sorted(extra)}"


def test_python_floor_agrees():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["requires-python"] == _conda()["python"] == ">=3.12"


def test_constraints_pin_versions_inside_the_declared_ranges():
    from packaging.requirements import Requirement

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line:
            n, v = line.split("==")
            pins[n.lower().replace("_", "-")] = v
    for name, spec in _pyproject().items():
        if name in pins and spec:
            assert Requirement(f"{name}{spec}").specifier.contains(pins[name]), (
                f"constraints.txt pins {name}=={pins[name]} outside pyproject's '{spec}'"
            )
