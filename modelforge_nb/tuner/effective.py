"""What a trainer really trains with, recorded so that two trainings can be proved alike.

A library default that flips between releases (trl's ``gradient_checkpointing``, say)
silently changes what "the same training" means. The worker writes the effective record of
every run into ``effective_args.json``; the benchmark records its plain-trl side the same way
and refuses to compare runs whose records differ in anything but paths and logging targets.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from modelforge_nb.rundir import EFFECTIVE_ARGS_FILE

#: The record's name in the run folder (``rundir.EFFECTIVE_ARGS_FILE``).
FILE_NAME = EFFECTIVE_ARGS_FILE
#: Argument fields that say where output goes, not what is trained.
IGNORED_ARGUMENTS = frozenset({"output_dir", "logging_dir", "run_name", "report_to"})
#: How many processed training rows the data fingerprint covers.
FINGERPRINT_ROWS = 1000


def _plain(value: Any) -> Any:
    """A JSON-safe copy: sets become sorted lists, everything unknown its ``str``."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _data_fingerprint(dataset: Any) -> dict[str, Any]:
    """Row count and a hash of the token ids the trainer will see (first rows)."""
    if dataset is None:
        return {"rows": 0}
    digest = hashlib.sha256()
    columns = [
        c
        for c in ("input_ids", "completion_mask", "assistant_masks", "labels")
        if c in getattr(dataset, "column_names", [])
    ]
    for index in range(min(len(dataset), FINGERPRINT_ROWS)):
        row = dataset[index]
        digest.update(json.dumps([row[c] for c in columns]).encode())
    return {"rows": len(dataset), "columns": columns, "sha256": digest.hexdigest()[:16]}


def _checkpointing(model: Any) -> bool:
    """Whether activation (gradient) checkpointing is on; the attribute was renamed in 5.x."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        if name in dir(type(inner)):
            return bool(getattr(inner, name))
    return False


def effective_arguments(trainer: Any) -> dict[str, Any]:
    """The trainer's class, its full arguments, the adapter config, the model and the data."""
    model = trainer.model
    peft = getattr(model, "peft_config", None) or {}
    parameters = list(model.parameters())
    return {
        "trainer": type(trainer).__name__,
        "arguments": _plain(trainer.args.to_dict()),
        "peft": {name: _plain(config.to_dict()) for name, config in peft.items()},
        "model": {
            "class": type(model).__name__,
            "dtype": str(parameters[0].dtype) if parameters else None,
            "parameters": sum(p.numel() for p in parameters),
            "trainable": sum(p.numel() for p in parameters if p.requires_grad),
            "gradient_checkpointing": _checkpointing(model),
        },
        "train_data": _data_fingerprint(trainer.train_dataset),
    }


def differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """Every leaf where two records differ, as ``path: first != second`` lines.

    Only the paths and logging targets in ``IGNORED_ARGUMENTS`` may differ.
    """
    out: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if path == "arguments" and key in IGNORED_ARGUMENTS:
                    continue
                where = f"{path}.{key}" if path else key
                walk(a.get(key, "<absent>"), b.get(key, "<absent>"), where)
        elif a != b:
            out.append(f"{path}: {a!r} != {b!r}")

    walk(first, second, "")
    return out


def peak_memory_bytes(on_gpu: bool) -> int:
    """This process's peak memory: CUDA's allocated peak on a GPU, the peak RSS otherwise."""
    if on_gpu:
        import torch

        return int(torch.cuda.max_memory_allocated())
    return _peak_rss_bytes()


def _peak_rss_bytes() -> int:
    """The peak resident memory of this process's own address space.

    Linux's ``VmHWM`` is reset when a program is executed; ``ru_maxrss`` is not: it keeps the
    parent's resident size across fork and exec, so a worker started from a kernel holding
    3 GB would report 3 GB. ``ru_maxrss`` is the fallback where there is no /proc.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere
