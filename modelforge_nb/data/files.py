"""The data files a notebook user has at hand, and files they upload from the form.

The files people train on are in the notebook's folder, in Google Drive on Colab
(``/content/drive/MyDrive`` once mounted) or in ``/kaggle/input`` on Kaggle; the form's
dataset picker lists the ones this package can read. An upload is saved under the
notebook's ``data/`` folder and never written over a different file of the same name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from modelforge_nb.config.models import DATA_FILE_SUFFIXES
from modelforge_nb.environment import default_home, detect_environment
from modelforge_nb.errors import DatasetError
from modelforge_nb.rundir import RUN_FILE

#: Folders never searched: tools' caches, environments, and run folders' insides.
_SKIP = {"__pycache__", "node_modules", "site-packages", "checkpoints", "adapter", "merged"}
#: How deep below each folder the picker looks, and how many files it lists at most.
MAX_DEPTH = 3
MAX_FILES = 200
#: Where an upload goes, below the notebook's folder.
UPLOAD_FOLDER = "data"


def data_folders(base_dir: str | Path) -> list[Path]:
    """The notebook's folder, then Drive (Colab, once mounted) and ``/kaggle/input``."""
    folders = [Path(base_dir)]
    environment = detect_environment()
    if environment.input_dir is not None:
        folders.append(environment.input_dir)
    drive = Path("/content/drive/MyDrive")
    if environment.platform == "colab" and drive.is_dir():
        folders.append(drive)
    return [folder for folder in folders if folder.is_dir()]


def find_data_files(folders: Iterable[Path], *, limit: int = MAX_FILES) -> list[Path]:
    """Readable data files (.jsonl, .json, .csv, .parquet) up to ``MAX_DEPTH`` folders down,
    skipping hidden folders, environments and run folders; at most ``limit``, sorted."""
    runs_home = default_home().resolve()
    found: list[Path] = []
    for top in folders:
        top = top.resolve()
        for folder, subfolders, names in os.walk(top):
            here = Path(folder)
            depth = len(here.relative_to(top).parts)
            if RUN_FILE in names or here == runs_home:
                subfolders[:] = []  # a run's own files are not training data
                continue
            subfolders[:] = sorted(
                name
                for name in subfolders
                if not name.startswith(".") and name not in _SKIP and depth < MAX_DEPTH
            )
            found += [
                here / name
                for name in sorted(names)
                if Path(name).suffix.lower() in DATA_FILE_SUFFIXES and not name.startswith(".")
            ]
            if len(found) >= limit:
                return found[:limit]
    return found


def shown_path(path: Path, base_dir: str | Path) -> str:
    """``path`` relative to the notebook's folder when it is inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path(base_dir).resolve()))
    except ValueError:
        return str(path)


def save_upload(name: str, content: bytes, base_dir: str | Path) -> Path:
    """Save an uploaded file as ``data/NAME`` under the notebook's folder.

    The same content already there is reused; a different file of that name is kept and the
    upload becomes ``NAME-1`` (``-2``, ...): nothing the user has is written over.
    """
    plain = Path(name).name
    if not plain or plain.startswith(".") or Path(plain).suffix.lower() not in DATA_FILE_SUFFIXES:
        raise DatasetError(
            "dataset.upload_type",
            f"{name!r} is not a data file this package reads.",
            field="dataset",
            hint=f"Upload a {', '.join(DATA_FILE_SUFFIXES)} file.",
        )
    folder = Path(base_dir) / UPLOAD_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(plain).stem, Path(plain).suffix
    digest = hashlib.sha256(content).digest()
    for number in range(1000):
        target = folder / (plain if number == 0 else f"{stem}-{number}{suffix}")
        if target.exists():
            if target.is_file() and hashlib.sha256(target.read_bytes()).digest() == digest:
                return target
            continue
        try:
            with target.open("xb") as out:  # never over a file that appeared meanwhile
                out.write(content)
        except FileExistsError:
            continue
        return target
    raise DatasetError(
        "dataset.upload_names",
        f"{folder} already holds 1000 different files named like {plain}.",
        field="dataset",
        hint="Rename the file before uploading it.",
    )
