"""Where the notebook runs: Colab, Kaggle or a local Jupyter, and the folders that suit it.

On Kaggle only ``/kaggle/working`` is kept as the notebook's output and ``/kaggle/input``
holds attached datasets; on Colab ``/content`` is the folder the file browser shows. Runs
default to a folder there, so they are where the user looks for them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Platform = Literal["colab", "kaggle", "local"]


@dataclass(frozen=True)
class NotebookEnvironment:
    platform: Platform
    work_dir: Path
    """Where outputs belong: ``/content`` on Colab, ``/kaggle/working`` on Kaggle, else the cwd."""
    input_dir: Path | None
    """Read-only attached data: ``/kaggle/input`` on Kaggle, else None."""

    @property
    def runs_home(self) -> Path | None:
        """The default ``MODELFORGE_HOME`` here; None means the user data folder."""
        return None if self.platform == "local" else self.work_dir / "modelforge-runs"

    def __str__(self) -> str:
        extra = f", inputs in {self.input_dir}" if self.input_dir else ""
        return f"{self.platform} (outputs in {self.work_dir}{extra})"


def detect_environment(
    environ: Mapping[str, str] | None = None, modules: Mapping[str, object] | None = None
) -> NotebookEnvironment:
    """Colab is recognised by its module or ``COLAB_RELEASE_TAG``, Kaggle by its variables."""
    env = os.environ if environ is None else environ
    loaded = sys.modules if modules is None else modules
    if "google.colab" in loaded or "COLAB_RELEASE_TAG" in env:
        return NotebookEnvironment("colab", Path("/content"), None)
    if "KAGGLE_KERNEL_RUN_TYPE" in env or "KAGGLE_URL_BASE" in env:
        return NotebookEnvironment("kaggle", Path("/kaggle/working"), Path("/kaggle/input"))
    return NotebookEnvironment("local", Path.cwd(), None)


def in_colab() -> bool:
    return detect_environment().platform == "colab"


def background_updates_shown(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the front end shows widget updates sent from a background thread.

    Colab's does not (googlecolab/colabtools#3373): there a run is followed, and a chat
    answer streamed, by the kernel's main thread. ``MODELFORGE_FOREGROUND=1`` says the same
    of any other front end that drops them.
    """
    env = os.environ if environ is None else environ
    return env.get("MODELFORGE_FOREGROUND", "") not in {"1", "true", "yes"} and not in_colab()


def default_home() -> Path:
    """THE runs home: ``MODELFORGE_HOME``; on Colab and Kaggle a folder among the notebook's
    outputs; else the user data folder (for example ~/.local/share/modelforge-nb)."""
    configured = os.environ.get("MODELFORGE_HOME")
    if configured:
        return Path(configured).expanduser().resolve()
    hosted = detect_environment().runs_home
    if hosted is not None:
        return hosted
    import platformdirs

    return Path(platformdirs.user_data_dir("modelforge-nb"))


def runs_root(output_root: str | None, home: Path | None = None) -> Path:
    """THE folder a run's folder is made in: ``output_root``, else ``HOME/runs``.

    The workspace creates runs there and preflight checks the free disk there.
    """
    if output_root:
        return Path(output_root).expanduser()
    return (home or default_home()) / "runs"
