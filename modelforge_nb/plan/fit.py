"""Settings that fit: the one search behind ``recommend()`` and the memory check's hint.

A change is a set of config fields by dotted path (``{"training.batch_size": 2}``). Each
candidate is applied to the config, validated by the schema and re-estimated; it fits
when its estimated peak is within ``HEADROOM`` (90%) of the memory budget, a margin for the
estimator's error. The words a user reads are made
from the fields themselves, so the hint can be copied into the config as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.hardware import HardwareInfo
from modelforge_nb.plan.estimate import estimate_run
from modelforge_nb.plan.shape import ModelShape

Change = Mapping[str, Any]

#: The shortest sequence the search proposes; shorter would cut most examples.
MIN_SEQUENCE = 256
#: Share of the budget a proposed setting may use: the margin for the estimator's error.
HEADROOM = 0.9


def memory_budget(hardware: HardwareInfo) -> int:
    """Memory a run may plan on: 90% of the GPU's free memory, or 80% of available RAM."""
    if hardware.has_cuda:
        return int(min(g.free_bytes for g in hardware.gpus) * 0.9)
    return int(hardware.ram_available_bytes * 0.8)


def apply(config: FinetuneConfig, change: Change) -> FinetuneConfig | None:
    """``config`` with ``change`` applied, or None when the schema refuses the result."""
    data = config.model_dump()
    for path, value in change.items():
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    try:
        return FinetuneConfig.model_validate(data)
    except ValidationError:
        return None


def describe(change: Change) -> str:
    """``training.batch_size: 2, training.grad_accum: 8``: YAML a user can paste."""
    shown = {True: "true", False: "false"}
    return ", ".join(
        f"{path}: {shown.get(value, value) if isinstance(value, bool) else value}"
        for path, value in change.items()
    )


def first_fit(
    config: FinetuneConfig,
    changes: Iterable[Change],
    shape: ModelShape,
    hardware: HardwareInfo,
    budget: int,
    *,
    longest_tokens: int | None = None,
) -> tuple[Change, FinetuneConfig, int] | None:
    """The first change whose estimated peak is within ``HEADROOM`` of ``budget``:
    (change, config, peak). What it proposes keeps a margin for the estimator's error."""
    limit = budget * HEADROOM
    for change in changes:
        candidate = apply(config, change)
        if candidate is None:
            continue
        peak = estimate_run(candidate, shape, hardware, longest_tokens=longest_tokens).peak_bytes
        if peak <= limit:
            return change, candidate, peak
    return None


def cheaper_steps(
    config: FinetuneConfig, hardware: HardwareInfo, sequence_length: int
) -> list[dict[str, Any]]:
    """Each step that lowers memory, cheapest in lost quality or speed first, smallest each.

    Gradient checkpointing (slower, same result), half the batch with twice the
    accumulation (same effective batch), 4-bit weights on a GPU, half the sequence.
    """
    training = config.training
    steps: list[dict[str, Any]] = []
    if not training.gradient_checkpointing:
        steps.append({"training.gradient_checkpointing": True})
    if training.batch_size > 1:
        steps.append(
            {
                "training.batch_size": max(1, training.batch_size // 2),
                "training.grad_accum": training.grad_accum * 2,
            }
        )
    if config.adapter == "lora" and hardware.has_cuda:
        steps.append({"adapter": "qlora"})
    if sequence_length > MIN_SEQUENCE:
        steps.append({"training.max_seq_length": sequence_length // 2})
    return steps


def _ladder(
    config: FinetuneConfig, hardware: HardwareInfo, sequence_length: int
) -> Iterator[dict[str, Any]]:
    """Ever cheaper combinations: each rung adds the first cheaper step of the one before."""
    combined: dict[str, Any] = {}
    current: FinetuneConfig | None = config
    length = sequence_length
    while current is not None:
        steps = cheaper_steps(current, hardware, length)
        if not steps:
            return
        combined.update(steps[0])
        yield dict(combined)
        current = apply(config, combined)
        length = combined.get("training.max_seq_length", length)


def cheaper_settings(
    config: FinetuneConfig,
    shape: ModelShape,
    hardware: HardwareInfo,
    budget: int,
    *,
    sequence_length: int,
    longest_tokens: int | None = None,
) -> list[str]:
    """The cheapest changes, each re-estimated, that would make the run fit.

    Every single step that is enough on its own; when none is, the first combination on
    the ladder that is. Empty when nothing fits.
    """
    singles = [
        describe(step)
        for step in cheaper_steps(config, hardware, sequence_length)
        if first_fit(config, [step], shape, hardware, budget, longest_tokens=longest_tokens)
    ]
    if singles:
        return singles
    found = first_fit(
        config,
        _ladder(config, hardware, sequence_length),
        shape,
        hardware,
        budget,
        longest_tokens=longest_tokens,
    )
    return [describe(found[0])] if found else []
