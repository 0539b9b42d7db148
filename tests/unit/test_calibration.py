"""The estimator against measured peaks (modelforge_nb/plan/data/calibration.json): every
row within 15%, the worst printed; the margin recommendations keep covers its error."""

from __future__ import annotations

import pytest

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.hardware import hardware_profile
from modelforge_nb.plan import calibration
from modelforge_nb.plan.catalog import catalog_entry
from modelforge_nb.plan.estimate import estimate_run, loss_kind
from modelforge_nb.plan.fit import HEADROOM
from modelforge_nb.plan.shape import ModelShape, model_shape


def test_every_calibration_row_is_within_tolerance(capsys: pytest.CaptureFixture[str]) -> None:
    rows = calibration.rows()
    assert sum(r["measured"] == "peak_rss" for r in rows) >= 8, "the CPU probe grid"
    assert sum(r["measured"] != "peak_rss" for r in rows) >= 7, "published GPU measurements"
    ratios = [(calibration.ratio(row), row) for row in rows]
    worst, row = max(ratios, key=lambda item: abs(item[0] - 1))
    with capsys.disabled():
        print(f"\ncalibration: worst estimate/measured {worst:.3f} at {calibration.describe(row)}")
    outside = [calibration.describe(r) for ratio, r in ratios if abs(ratio - 1) > 0.15]
    assert not outside, outside


def test_every_row_names_its_source_and_hardware() -> None:
    for row in calibration.rows() + calibration.reference_rows():
        assert row["source"] and row["hardware"], row
        assert row["measured"] in {"peak_rss", "max_memory_allocated", "device_total"}
    assert all(row["not_held"] for row in calibration.reference_rows())


def test_the_recommendation_margin_covers_the_worst_underestimate() -> None:
    worst = max(1 / calibration.ratio(row) - 1 for row in calibration.rows())
    # a run estimated at the margin still fits when it needs the worst row's extra
    assert HEADROOM * (1 + worst) <= 1, (HEADROOM, worst)
    assert HEADROOM <= 0.9


def _llama_config(**lora: object) -> tuple[FinetuneConfig, ModelShape]:
    entry = catalog_entry("meta-llama/Llama-3.1-8B-Instruct")
    assert entry is not None
    config = FinetuneConfig(model=entry["id"], dataset="d.jsonl", lora=lora)
    return config, model_shape(entry["config"], config.task)


def test_target_modules_decide_the_adapter_size() -> None:
    gpu = hardware_profile("a100-80gb")
    every, shape = _llama_config()
    attention, _ = _llama_config(target_modules=["q_proj", "v_proj"])
    one = estimate_run(every, shape, gpu)
    few = estimate_run(attention, shape, gpu)
    # q: 4096 in + 4096 out, v: 4096 in + 1024 out, in 32 layers, rank 16
    assert few.trainable_params == 16 * 32 * (8192 + 5120)
    assert one.trainable_params > 6 * few.trainable_params
    assert few.adapter_bytes < one.adapter_bytes and few.optimizer_bytes < one.optimizer_bytes


def test_the_installed_trl_scores_tokens_without_the_full_logits() -> None:
    config, shape = _llama_config()
    assert loss_kind(config) == "fused"
    gpu = hardware_profile("a100-80gb")
    fused = estimate_run(config, shape, gpu)
    full = estimate_run(config, shape, gpu, loss="full")
    # batch 4 x 512 tokens x 128,256 vocabulary x (2 + 12) bytes, against 2048 x 32,768 tiles
    assert config.training.batch_size == 4
    assert full.logits_bytes == 4 * 512 * 128256 * 14
    assert fused.logits_bytes < full.logits_bytes / 3
