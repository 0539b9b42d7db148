"""Recommended models for a task on this machine, with settings that fit it.

The catalog (``catalog.py``) lists current small models per task with the config fields
the estimator needs, so recommendations are computed offline. For each model the
first setting (adapter, batch size, sequence length) whose estimated peak fits the
memory at hand is offered (``fit.first_fit``, the search the memory check uses too);
models that fit nowhere are left out.

Best first: on a GPU the largest model that fits (16-bit LoRA before QLoRA at the same
size); on a CPU, where speed binds long before memory, the smallest and so fastest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.tasks import get_task
from modelforge_nb.hardware import HardwareInfo, detect_hardware
from modelforge_nb.plan.catalog import load_catalog
from modelforge_nb.plan.fit import first_fit, memory_budget
from modelforge_nb.plan.shape import model_shape

_GPU_SETTINGS: tuple[tuple[str, int, int, bool], ...] = (
    ("lora", 8, 1024, False),
    ("lora", 4, 1024, False),
    ("lora", 4, 1024, True),
    ("lora", 2, 512, True),
    ("qlora", 4, 1024, True),
    ("qlora", 1, 512, True),
)
_CPU_SETTINGS: tuple[tuple[str, int, int, bool], ...] = (
    ("lora", 4, 512, False),
    ("lora", 2, 256, False),
    ("lora", 1, 256, True),
)


@dataclass(frozen=True)
class Recommendation:
    """A model and the settings the estimator says fit this machine."""

    model: str
    name: str
    task: str
    architecture: str
    params: int
    adapter: str
    batch_size: int
    grad_accum: int
    max_seq_length: int
    gradient_checkpointing: bool
    peak_bytes: int
    budget_bytes: int

    def config_fields(self) -> dict[str, Any]:
        """The config fields to pre-fill a form or cell with."""
        return {
            "task": self.task,
            "model": self.model,
            "adapter": self.adapter,
            "training": {
                "batch_size": self.batch_size,
                "grad_accum": self.grad_accum,
                "max_seq_length": self.max_seq_length,
                "gradient_checkpointing": self.gradient_checkpointing,
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.name} ({self.params / 1e6:,.0f}M): {self.adapter}, batch {self.batch_size}"
            f" x {self.grad_accum}, {self.max_seq_length} tokens, "
            f"about {self.peak_bytes / 1e9:.1f} of {self.budget_bytes / 1e9:.1f} GB"
        )


def recommend(task: str, hardware: HardwareInfo | None = None) -> list[Recommendation]:
    """Models for ``task`` ranked for ``hardware`` (this machine by default)."""
    get_task(task)
    machine = hardware or detect_hardware()
    budget = memory_budget(machine)
    settings = _GPU_SETTINGS if machine.has_cuda else _CPU_SETTINGS
    ladder = [
        {
            "adapter": adapter,
            "training.batch_size": batch,
            "training.grad_accum": max(1, 16 // batch),
            "training.max_seq_length": seq,
            "training.gradient_checkpointing": checkpointing,
        }
        for adapter, batch, seq, checkpointing in settings
    ]
    picks: list[Recommendation] = []
    for entry in load_catalog():
        if entry["task"] != task or machine.tier not in entry["tiers"]:
            continue
        shape = model_shape(entry["config"], task)
        start = FinetuneConfig(task=task, model=entry["id"], dataset="data.jsonl")
        found = first_fit(start, ladder, shape, machine, budget)
        if found is None:
            continue
        change, config, peak = found
        picks.append(
            Recommendation(
                model=entry["id"],
                name=entry["name"],
                task=task,
                architecture=entry["architecture"],
                params=shape.params,
                adapter=config.adapter,
                batch_size=config.training.batch_size,
                grad_accum=config.training.grad_accum,
                max_seq_length=int(change["training.max_seq_length"]),
                gradient_checkpointing=config.training.gradient_checkpointing,
                peak_bytes=peak,
                budget_bytes=budget,
            )
        )
    if machine.has_cuda:
        picks.sort(key=lambda pick: (pick.params, pick.adapter == "lora"), reverse=True)
    else:
        picks.sort(key=lambda pick: pick.params)
    return picks
