"""`pip wheel .` ships the package and the prebuilt JupyterLab extension."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from repo_paths import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."],
        cwd=REPO_ROOT,
        check=True,
        timeout=600,
    )
    (built,) = out.glob("modelforge_nb-*.whl")
    return built


def test_wheel_contains_package_and_labextension(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "modelforge_nb/__init__.py" in names
    assert "modelforge_nb/tiny.py" in names
    exports = {f"modelforge_nb/export/{m}.py" for m in ("merged", "gguf", "hub", "card", "job")}
    assert exports <= names, "getting a model out ships as the export package"
    assert "modelforge_nb/examples/zephyr_train.jsonl" in names, "the quickstart data ships"
    assert "modelforge_nb/examples/zephyr_heldout.jsonl" in names
    share = next(
        n for n in names if n.endswith("share/jupyter/labextensions/modelforge-nb/package.json")
    )
    prefix = share.rsplit("package.json", 1)[0]
    assert any(n.startswith(prefix + "static/remoteEntry.") for n in names)
    assert prefix + "install.json" in names
    assert any(n.endswith("etc/jupyter/jupyter_server_config.d/modelforge_nb.json") for n in names)


def test_installed_wheel_enables_both_extensions(wheel: Path, tmp_path: Path) -> None:
    """After pip install, Jupyter lists the lab extension and the server extension enabled."""
    # Unpacked the way an installer lays a pure wheel out (pip install --prefix would
    # also uninstall the editable install this test runs from).
    prefix = tmp_path / "prefix"
    site = prefix / "lib" / "python3" / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith("/"):
                continue
            head, _, rest = name.partition(".data/data/")
            target = prefix / rest if rest and "/" not in head else site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "JUPYTER_PATH": str(prefix / "share/jupyter"),
        "JUPYTER_CONFIG_PATH": str(prefix / "etc/jupyter"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
    }
    jupyter = Path(sys.executable).parent / "jupyter"
    lab = subprocess.run(
        [str(jupyter), "labextension", "list"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    listing = lab.stdout + lab.stderr
    assert "modelforge-nb" in listing and "enabled" in listing and "OK" in listing
    # `jupyter server extension list` reads only the user, sys.prefix and system config
    # folders; this asks the same manager about the installed prefix.
    probe = (
        "import sys, modelforge_nb\n"
        "from jupyter_server.extension.config import ExtensionConfigManager\n"
        "from jupyter_server.extension.manager import ExtensionPackage\n"
        "manager = ExtensionConfigManager(read_config_path=[sys.argv[1]])\n"
        "enabled = manager.get_jpserver_extensions()\n"
        "assert enabled == {'modelforge_nb': True}, enabled\n"
        "assert ExtensionPackage(name='modelforge_nb').validate()\n"
        "assert modelforge_nb.__file__.startswith(sys.argv[2]), modelforge_nb.__file__\n"
        "print('server extension enabled OK')\n"
    )
    server = subprocess.run(
        [sys.executable, "-c", probe, str(prefix / "etc/jupyter"), str(site)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "server extension enabled OK" in server.stdout
