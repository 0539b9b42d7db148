"""`pip wheel .` ships the package and the prebuilt JupyterLab extension."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from repo_paths import REPO_ROOT

pytestmark = pytest.mark.slow


def test_wheel_contains_package_and_labextension(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=REPO_ROOT,
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("modelforge_nb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "modelforge_nb/__init__.py" in names
    assert "modelforge_nb/tiny.py" in names
    share = next(
        n for n in names if n.endswith("share/jupyter/labextensions/modelforge-nb/package.json")
    )
    prefix = share.rsplit("package.json", 1)[0]
    assert any(n.startswith(prefix + "static/remoteEntry.") for n in names)
    assert prefix + "install.json" in names
