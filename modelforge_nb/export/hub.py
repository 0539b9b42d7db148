"""Push a run's adapter (or merged model) to the Hugging Face Hub with a model card.

The token comes from the argument, ``HF_TOKEN``, Colab's secrets or the huggingface_hub
login, in that order. It is handed to huggingface_hub and nowhere else: never printed,
logged, written into the run folder, or shown in an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelforge_nb.errors import ModelForgeError, RunError
from modelforge_nb.rundir import read_config, read_metrics, run_folder, weights_folder

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class HubToken:
    """A Hub token that never shows itself: its repr and str are ``HubToken('***')``, so a
    verbose traceback (``%xmode Verbose``), a debugger or a log of locals never prints it.
    Only ``reveal()``, called where it is handed to huggingface_hub, gives the text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "HubToken('***')"

    __str__ = __repr__

    def reveal(self) -> str:
        return self._value


def resolve_token(token: str | None = None) -> str | None:
    """The Hub token: argument, HF_TOKEN, Colab secrets, then the huggingface_hub login."""
    if token:
        return token
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    secret = _colab_secret()
    if secret:
        return secret
    from huggingface_hub import get_token

    found = get_token()
    return str(found) if found else None


def _colab_secret() -> str | None:
    try:
        from google.colab import userdata

        value = userdata.get("HF_TOKEN")
    except Exception:  # not in Colab, or the secret is not shared with this notebook
        return None
    return str(value) if value else None


def _redact(text: str, token: HubToken) -> str:
    return text.replace(token.reveal(), "***")


def model_card(run_dir: Path) -> str:
    """The run's model card (``modelforge_nb.export.card``) as the text of a README.md."""
    from modelforge_nb.export.card import build_model_card
    from modelforge_nb.rundir import read_events

    config = read_config(run_dir)
    events, _ = read_events(run_dir)
    start = next((e for e in events if e["type"] == "start"), None)
    card = build_model_card(config, read_metrics(run_dir), title=run_dir.name, start=start)
    return str(card)


def push_to_hub(
    run: Any,
    repo_id: str,
    *,
    private: bool = True,
    merge: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    progress: Callable[[str], None] | None = print,
) -> str:
    """Upload the run's adapter (or, with ``merge=True``, the merged model); return the URL.

    ``endpoint`` points at another Hub deployment (default: huggingface.co or HF_ENDPOINT).
    """
    found = resolve_token(token)
    secret = HubToken(found) if found else None
    token = found = None  # from here on only ``secret`` holds it, and hides it
    say = progress or (lambda _line: None)
    run_dir = run_folder(run)
    if not _REPO_ID.match(repo_id or ""):
        raise ModelForgeError(
            "hub.bad_repo",
            f"{repo_id!r} is not a Hub repository id.",
            field="repo_id",
            hint="Use the form owner/name, e.g. you/my-model.",
        )
    folder: Path | None
    if merge:
        from modelforge_nb.export.merged import merge as merge_run

        folder = merge_run(run_dir, log=say)
    else:
        folder = weights_folder(run_dir)
        if folder is None:
            raise RunError(
                "run.no_weights",
                f"Run {run_dir.name} has no saved weights to push.",
                field="run",
                hint="Wait for it to complete, or resume it.",
            )
    if secret is None:
        raise ModelForgeError(
            "hub.no_token",
            "No Hugging Face token was found.",
            field="token",
            hint="Pass token=..., set HF_TOKEN, add it to Colab's secrets, or run "
            "`huggingface-cli login`.",
        )
    (folder / "README.md").write_text(model_card(run_dir), encoding="utf-8")
    files = [p for p in folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    say(f"Uploading {len(files)} files ({size / 1e6:.1f} MB) from {folder.name}/ to {repo_id}...")
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=secret.reveal())
    failure = None
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            commit_message=f"Upload {run_dir.name} (modelforge-nb)",
            ignore_patterns=["*.pt", "*.pth", "*.bin", "*.pkl"],
        )
    except Exception as error:  # network, auth and server errors: reported without the token
        failure = ModelForgeError(
            "hub.upload_failed",
            _redact(f"The upload to {repo_id} failed: {type(error).__name__}: {error}", secret),
            field="repo_id",
            hint="Check the repository id, the token's write access and the connection.",
        )
    if failure is not None:
        # Raised outside the except block, so it carries no context: the client's frames,
        # whose locals hold the token, are not kept with it.
        raise failure
    url = str(getattr(commit, "repo_url", "") or f"{api.endpoint}/{repo_id}")
    say(f"Pushed to {url}")
    return url
