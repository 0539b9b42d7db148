"""The estimator against measured peaks (modelforge_nb/plan/data/calibration.json): every
row within 15%, the worst printed."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.embedded import EMBEDDED_MODEL_ID
from modelforge_nb.hardware import HardwareInfo
from modelforge_nb.plan.catalog import catalog_entry
from modelforge_nb.plan.estimate import estimate_run, model_shape

TOLERANCE = 0.15
_CPU = HardwareInfo((), 2, 24 * 10**9, 20 * 10**9, "cpu", "described")
_IDS = {"HuggingFaceTB/SmolLM2-135M-Instruct": EMBEDDED_MODEL_ID}


def _rows() -> list[dict[str, object]]:
    text = resources.files("modelforge_nb.plan").joinpath("data/calibration.json").read_text()
    rows: list[dict[str, object]] = json.loads(text)["rows"]
    return rows


def _ratio(row: dict[str, object]) -> float:
    model = _IDS.get(str(row["model"]), str(row["model"]))
    entry = catalog_entry(model)
    assert entry is not None, f"{model} is not in the catalog: its shape is needed offline"
    config = FinetuneConfig(
        model=model,
        dataset="data.jsonl",
        task=str(row["task"]),
        adapter=str(row["adapter"]),
        lora={"r": row["lora_r"]},
        training={
            "batch_size": row["batch_size"],
            "max_seq_length": row["max_seq_length"],
            "gradient_checkpointing": row["gradient_checkpointing"],
        },
    )
    assert str(row["hardware"]).startswith("cpu"), "GPU rows need a described GPU here"
    estimate = estimate_run(config, model_shape(entry["config"], config.task), _CPU)
    return estimate.peak_bytes / float(row["measured_peak_bytes"])  # type: ignore[arg-type]


def test_every_calibration_row_is_within_tolerance(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows()
    assert len(rows) >= 8
    ratios = [(_ratio(row), row) for row in rows]
    worst, row = max(ratios, key=lambda item: abs(item[0] - 1))
    with capsys.disabled():
        print(f"\ncalibration: worst estimate/measured {worst:.3f} at {row}")
    assert all(abs(ratio - 1) <= TOLERANCE for ratio, _ in ratios), ratios
