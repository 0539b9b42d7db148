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


def _locked() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (REPO_ROOT / "requirements" / "lock.txt").read_text("utf-8").splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.split("[")[0])] = version.split()[0]
    return pins


def test_the_lock_pins_every_dependency_within_its_range() -> None:
    """CI installs the lock: it must hold what pyproject.toml asks for (else `make lock`)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    locked = _locked()
    wanted = [*project["dependencies"], *extras["qlora"], *extras["embedded"], *extras["lab"]]
    wanted += extras["gguf-export"]
    wanted += [r for r in extras["dev"] if not r.startswith("modelforge-nb")]
    stale = []
    for text in wanted:
        requirement = Requirement(text)
        version = locked.get(canonicalize_name(requirement.name))
        if version is None or Version(version) not in requirement.specifier:
            stale.append(f"{text} (locked: {version})")
    assert stale == [], "run `make lock`"


def test_core_install_leaves_out_what_a_notebook_may_not_need() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    core = " ".join(_pyproject()["project"]["dependencies"])
    for optional in ("bitsandbytes", "gguf", "jupyterlab"):
        assert optional not in core
    from modelforge_nb.optional import EXTRAS

    extras = _pyproject()["project"]["optional-dependencies"]
    for module, extra in EXTRAS.items():
        names = {canonicalize_name(Requirement(r).name) for r in extras[extra]}
        assert canonicalize_name(module) in names, (module, extra)
