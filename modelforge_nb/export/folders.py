"""Where an export writes: a new folder, or an empty one; never over a folder of the user's."""

from __future__ import annotations

from pathlib import Path

from modelforge_nb.errors import RunError


def new_or_empty_folder(path: str | Path, *, code: str, writer: str, field: str, hint: str) -> Path:
    """``path`` resolved, when it does not exist or is an empty folder; else a ``RunError``
    (``code``) naming ``field``, saying that ``writer`` writes nothing over it."""
    target = Path(path).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RunError(
            code,
            f"{target} already exists and is not an empty folder; {writer} writes nothing over it.",
            field=field,
            hint=hint,
        )
    return target
