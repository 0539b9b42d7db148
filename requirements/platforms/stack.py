"""Colab's published stack, as data: the versions `make test-colab` installs and holds.

    python requirements/platforms/stack.py image      # Colab's pins for what this project uses
    python requirements/platforms/stack.py protected  # the pins `pip install` must not change
    python requirements/platforms/stack.py check VENV_PYTHON  # exit 1 naming each one changed

Read from Colab's own `pip freeze` (README.md here names its source and date). A local
version label (`torch==2.11.0+cu128`) is dropped: PyPI's build of the same release stands in
for Colab's CUDA build, and the check compares releases.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FREEZE = HERE / "colab-2026-08-pip-freeze.gpu.txt"
LOCK = HERE.parent / "lock.txt"

#: What a running Colab kernel has imported or serves its front end with: changing one of
#: these needs a runtime restart, or breaks Colab's widget support.
PROTECTED = (
    "ipykernel",
    "ipython",
    "ipywidgets",
    "jupyter-client",
    "jupyter-core",
    "jupyter-server",
    "jupyterlab-widgets",
    "notebook",
    "numpy",
    "psutil",
    "pyzmq",
    "torch",
    "tornado",
    "traitlets",
    "widgetsnbextension",
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` for each ``name==version`` line (URL and file installs skipped)."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line.strip())
        if match:
            found[canonical(match[1])] = match[2].split("+")[0]
    return found


def image() -> dict[str, str]:
    """Colab's version of every package this project's lock holds, and of each protected one."""
    colab = pins(FREEZE)
    ours = set(pins(LOCK)) | set(PROTECTED)
    return {name: version for name, version in sorted(colab.items()) if name in ours}


def protected() -> dict[str, str]:
    colab = pins(FREEZE)
    return {name: colab[name] for name in PROTECTED}


def installed(python: str) -> dict[str, str]:
    script = (
        "import json, importlib.metadata as m;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    listing = json.loads(subprocess.run([python, "-c", script], check=True,
                                        capture_output=True, text=True).stdout)
    return {canonical(name): version.split("+")[0] for name, version in listing.items()}


def check(python: str) -> int:
    have = installed(python)
    changed = [
        f"{name}: Colab has {version}, the venv has {have.get(name, 'nothing')}"
        for name, version in protected().items()
        if have.get(name) != version
    ]
    for line in changed:
        print(line, file=sys.stderr)
    if not changed:
        print(f"all {len(PROTECTED)} of Colab's kernel, widget and torch versions kept")
    return 1 if changed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["image"]:
        print("\n".join(f"{name}=={version}" for name, version in image().items()))
    elif argv[:1] == ["protected"]:
        print("\n".join(f"{name}=={version}" for name, version in protected().items()))
    elif argv[:1] == ["check"] and len(argv) == 2:
        return check(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
