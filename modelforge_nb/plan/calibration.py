"""The estimator's calibration data: measured training peaks it is held to.

``data/calibration.json`` holds ``rows`` (each names its source, hardware and settings;
``tests/unit/test_calibration.py`` holds every one within :data:`TOLERANCE`) and
``reference_rows``: published figures of other trainers, printed by ``make bench`` beside
the rows but not held, each with the reason it is not like for like. ``measured`` says
what a row's figure is: ``peak_rss`` (the CPU probe), ``max_memory_allocated`` (tensors
on a GPU) or ``device_total`` (a card's whole memory at the longest run that fits it).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.embedded import EMBEDDED_MODELS
from modelforge_nb.hardware import GB, HardwareInfo, hardware_profile
from modelforge_nb.plan.catalog import catalog_entry
from modelforge_nb.plan.estimate import Estimate, estimate_run
from modelforge_nb.plan.shape import model_shape

__all__ = [
    "TOLERANCE",
    "counted_bytes",
    "describe",
    "estimate_for",
    "ratio",
    "reference_rows",
    "row_config",
    "row_model_config",
    "rows",
]

TOLERANCE = 0.15
_CPU = HardwareInfo((), 2, 24 * 10**9, 20 * 10**9, "cpu", "described")
# Rows name an embedded model by its Hub id.
_IDS = {model.hub_id: model.model_id for model in EMBEDDED_MODELS.values()}

Row = dict[str, Any]


def _data() -> dict[str, Any]:
    text = resources.files("modelforge_nb.plan").joinpath("data/calibration.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def rows() -> list[Row]:
    """The rows the estimator is held to."""
    return list(_data()["rows"])


def reference_rows() -> list[Row]:
    """Published figures of other trainers, shown but not held (``not_held`` says why)."""
    return list(_data().get("reference_rows", []))


def row_config(row: Row) -> FinetuneConfig:
    """The config a row's measurement ran, in this project's fields."""
    lora: dict[str, Any] = {"r": row["lora_r"]}
    for key in ("dropout", "target_modules"):
        if f"lora_{key}" in row:
            lora[key] = row[f"lora_{key}"]
    return FinetuneConfig(
        model=_IDS.get(str(row["model"]), str(row["model"])),
        dataset="data.jsonl",
        task=str(row.get("task", "text-generation")),
        adapter=str(row["adapter"]),
        lora=lora,
        training={
            "batch_size": row["batch_size"],
            "max_seq_length": row["max_seq_length"],
            "gradient_checkpointing": row["gradient_checkpointing"],
            "precision": row.get("precision", "auto"),
            "optimizer": row.get("optimizer", "adamw_torch"),
        },
    )


def row_model_config(row: Row) -> dict[str, Any]:
    """The measured model's config.json fields: the row's own, else the catalog's."""
    if "model_config" in row:
        return dict(row["model_config"])
    model = _IDS.get(str(row["model"]), str(row["model"]))
    entry = catalog_entry(model)
    if entry is None:
        raise KeyError(f"{model} is neither in the catalog nor described by the row")
    return dict(entry["config"])


def estimate_for(row: Row) -> Estimate:
    """The estimate for a row's settings on its hardware (a profile for a GPU row)."""
    config = row_config(row)
    shape = model_shape(row_model_config(row), config.task)
    profile = row.get("profile")
    hardware = hardware_profile(str(profile)) if profile else _CPU
    return estimate_run(config, shape, hardware, loss=row.get("loss"))


def counted_bytes(estimate: Estimate, measured: str) -> int:
    """The part of ``estimate`` that a ``measured`` kind of figure counts: the tensors alone
    for ``max_memory_allocated``, the whole peak otherwise."""
    if measured == "max_memory_allocated":
        return estimate.allocated_bytes
    return estimate.peak_bytes


def ratio(row: Row) -> float:
    """Estimate / measured, each counting what the row's measurement counts."""
    counted = counted_bytes(estimate_for(row), str(row.get("measured", "peak_rss")))
    return counted / float(row["measured_peak_bytes"])


def describe(row: Row) -> str:
    """A row in a line: model, settings, measurement."""
    return (
        f"{row['model']} {row['adapter']} r{row['lora_r']} {row['batch_size']}x"
        f"{row['max_seq_length']}{' ckpt' if row['gradient_checkpointing'] else ''} "
        f"({row.get('measured', 'peak_rss')} {float(row['measured_peak_bytes']) / GB:.2f} GB)"
    )
