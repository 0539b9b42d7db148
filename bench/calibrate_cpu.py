"""Measure the training peak on the CPU over a grid: the probe (two real steps in a worker)
for each model x batch x sequence length x gradient checkpointing, next to the estimate.

    python -m bench.calibrate_cpu [OUT.json]

Rows are full-length (every example longer than max_seq_length), so each step holds exactly
batch x length tokens. Writes the rows as JSON (default: build/calibration-cpu.json).
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


def main(argv: list[str]) -> int:
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
