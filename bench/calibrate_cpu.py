"""Measure the training peak on the CPU over a grid: the self-check (the probe, two real
steps in a worker) for SmolLM2 over batch x sequence length x gradient checkpointing, next
to the estimate, as calibration rows.

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
from pathlib import Path

from modelforge_nb.embedded import EMBEDDED_MODEL_ID
from modelforge_nb.plan.shape import model_shape
from modelforge_nb.selfcheck import selfcheck

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
    rows = []
    for batch, length, checkpointing in GRID:
        rows += selfcheck(
            EMBEDDED_MODEL_ID,
            length=length,
            batch_size=batch,
            gradient_checkpointing=checkpointing,
        )
        print(json.dumps(rows[-1]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
