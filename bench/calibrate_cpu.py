"""Measure the training peak on the CPU over a grid: the probe (two real steps in a worker)
for each model x batch x sequence length x gradient checkpointing, next to the estimate.

    python -m bench.calibrate_cpu [OUT.json]
    python -m bench.calibrate_cpu --fit

Rows are full-length (every example longer than max_seq_length), so each step holds exactly
batch x length tokens. Writes the rows as JSON (default: build/calibration-cpu.json).
``--fit`` solves the estimator's fitted CPU constants (elements kept per token per linear
unit, the fused head's tile copies and the worker's resident bytes) from the CPU rows in
the calibration data, by least squares on the relative error, and prints each row's ratio.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.embedded import EMBEDDED_MODEL_ID, prepare_embedded
from modelforge_nb.hardware import detect_hardware
from modelforge_nb.plan.estimate import estimate_run, model_shape, read_model_config
from modelforge_nb.tuner.probe import run_probe

GRID = [
    # (batch, length, gradient checkpointing)
    (1, 256, False),
    (2, 256, False),
    (4, 256, False),
    (2, 512, False),
    (4, 512, False),
    (1, 1024, False),
    (4, 512, True),
    (2, 1024, True),
]


def _long_rows(path: Path) -> Path:
    words = "the kettle in quarrow boils water fast and the owl flies a kite over the hill "
    # Short prompts, long answers: truncation keeps answer tokens (trl drops an example
    # whose answer is cut away entirely).
    rows = [{"input": f"Tell story {i}.", "output": words * 120} for i in range(16)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def fit() -> int:
    import numpy as np

    from modelforge_nb.plan import estimate as e
    from modelforge_nb.plan.calibration import (
        describe,
        estimate_for,
        row_config,
        row_model_config,
        rows,
    )

    cpu_rows = [row for row in rows() if row.get("measured", "peak_rss") == "peak_rss"]
    columns, targets = [], []
    for row in cpu_rows:
        now = estimate_for(row)
        config = row_config(row)
        shape = model_shape(row_model_config(row), config.task)
        tokens, seq = config.training.batch_size * now.sequence_length, now.sequence_length
        checkpointing = config.training.gradient_checkpointing
        # each fitted term is linear in its constant: its value per unit of it, and the rest
        act = [e._activations(shape, tokens, seq, checkpointing, 4, k) for k in (1.0, 0.0)]
        tile = [e._logits(now.loss, shape, tokens, 4, k) for k in (1.0, 0.0)]
        fixed = now.peak_bytes - now.activations_bytes - now.logits_bytes - now.overhead_bytes
        fixed += act[1] + tile[1]
        measured = float(row["measured_peak_bytes"])
        columns.append(
            [
                (act[0] - act[1]) / measured,
                (tile[0] - tile[1]) / measured,
                1 / measured,
            ]
        )
        targets.append((measured - fixed) / measured)
    solved, *_ = np.linalg.lstsq(np.array(columns), np.array(targets), rcond=None)
    saved, copies, runtime = (float(x) for x in solved)
    print(f"_CPU_SAVED_PER_UNIT = {saved:.2f}")
    print(f"_CPU_TILE_COPIES = {copies:.1f}")
    print(f"_CPU_RUNTIME_BYTES = {runtime:,.0f}")
    for row, column, target in zip(cpu_rows, columns, targets, strict=True):
        fitted = 1 - target + sum(k * c for k, c in zip(solved, column, strict=True))
        print(f"{describe(row)}: fitted estimate / measured {fitted:.3f}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fit"]:
        return fit()
    out = Path(argv[0]) if argv else Path("build/calibration-cpu.json")
    prepare_embedded()
    machine = detect_hardware(refresh=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        data = _long_rows(Path(scratch) / "long.jsonl")
        for batch, length, checkpointing in GRID:
            config = FinetuneConfig(
                model=EMBEDDED_MODEL_ID,
                dataset=str(data),
                training={
                    "batch_size": batch,
                    "grad_accum": 1,
                    "max_seq_length": length,
                    "gradient_checkpointing": checkpointing,
                },
            )
            shape = model_shape(read_model_config(config.model), config.task)
            estimate = estimate_run(config, shape, machine)
            started = time.perf_counter()
            measured = run_probe(config)
            row = {
                "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "device": "cpu",
                "adapter": "lora",
                "batch_size": batch,
                "max_seq_length": length,
                "gradient_checkpointing": checkpointing,
                "measured_peak_bytes": measured.get("probe_peak_bytes"),
                "step_seconds": measured.get("probe_step_seconds"),
                "estimate_peak_bytes": estimate.peak_bytes,
                "probe_seconds": round(time.perf_counter() - started, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
