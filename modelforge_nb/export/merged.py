"""A run's adapter merged into its base: a full model that loads alone, to keep or push.

``push_to_hub(..., merge=True)`` uploads what this writes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from modelforge_nb.config.tasks import TASKS
from modelforge_nb.errors import RunError
from modelforge_nb.export.folders import new_or_empty_folder
from modelforge_nb.loading import inference_dtype, open_weights
from modelforge_nb.rundir import ADAPTER_DIR, read_config, run_folder

MERGED_FOLDER = "merged"


def _target(folder: Path, output_dir: str | Path | None) -> Path:
    """Where the merged model goes; a folder of the user's is never replaced."""
    if output_dir is None:
        return folder / MERGED_FOLDER  # the run's own: a second merge replaces the first
    return new_or_empty_folder(
        output_dir,
        code="merge.target_exists",
        writer="merge",
        field="output_dir",
        hint="Pick a new folder, or leave output_dir out to write RUN/merged.",
    )


def merge(run: Any, *, output_dir: str | Path | None = None, log: Any = print) -> Path:
    """Merge a LoRA adapter into its base weights; write a full model that loads alone.

    A QLoRA run's base is reloaded unquantized (16-bit on a GPU, 32-bit on the CPU) for
    the merge, since quantized weights cannot absorb the adapter exactly. The model is
    written beside the target and moved into place when complete.
    """
    folder = run_folder(run)
    config = read_config(folder)
    adapter = folder / ADAPTER_DIR
    if config.adapter == "full" or not adapter.is_dir():
        raise RunError(
            "merge.nothing",
            f"Run {folder.name} has no LoRA adapter to merge (adapter: {config.adapter}).",
            field="run",
            hint="Full fine-tuning already saved a whole model in model/.",
        )
    target = _target(folder, output_dir)
    from transformers import AutoTokenizer

    from modelforge_nb.embedded import resolve_model

    dtype = inference_dtype()
    if config.adapter == "qlora":
        log(f"The base was 4/8-bit for training; reloading it unquantized ({dtype}) to merge.")
    merged = open_weights(
        resolve_model(config.model),
        auto_class=TASKS[config.task].auto_class,
        adapter=adapter,
        dtype=dtype,
        trust_remote_code=config.trust_remote_code,
    ).merge_and_unload()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    merged.save_pretrained(partial)
    AutoTokenizer.from_pretrained(adapter).save_pretrained(partial)
    if target.exists():
        shutil.rmtree(target)
    partial.replace(target)
    log(f"Merged model written to {target}.")
    return target
