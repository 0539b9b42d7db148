"""Package metadata: one version everywhere, lower bounds only, torch never pinned."""

from __future__ import annotations

import json
import re

import tomllib
from repo_paths import REPO_ROOT

import modelforge_nb


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_python_and_labextension_versions_agree() -> None:
    package = json.loads((REPO_ROOT / "labextension" / "package.json").read_text("utf-8"))
    assert package["version"] == modelforge_nb.__version__


def test_dependencies_have_no_exact_pins() -> None:
    project = _pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    pinned = [r for r in requirements if re.search(r"===?", r)]
    assert pinned == []
    torch = [r for r in project["dependencies"] if r.startswith("torch")]
    assert torch and "<" not in torch[0], "torch takes a lower bound only"


def test_labextension_build_tools_are_build_requirements() -> None:
    requires = " ".join(_pyproject()["build-system"]["requires"])
    assert "jupyter-builder" in requires
    assert "hatch-jupyter-builder" in requires
