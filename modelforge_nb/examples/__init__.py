"""Data shipped with the package for the quickstart and ``make demo``.

Facts about a fictional product, the Zephyr kettle, that no model knows before training:
48 question/answer pairs to train on and 6 questions held out from training, each with the
``keyword`` a correct answer contains. Shipped inside the package so the quickstart runs
the same on Colab, Kaggle and a local Jupyter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelforge_nb.embedded import EMBEDDED_MODEL_ID

HERE = Path(__file__).resolve().parent
ZEPHYR_TRAIN = HERE / "zephyr_train.jsonl"
ZEPHYR_HELDOUT = HERE / "zephyr_heldout.jsonl"


def zephyr_heldout() -> list[dict[str, Any]]:
    """The held-out questions: ``input``, the reference ``output`` and its ``keyword``."""
    return [json.loads(line) for line in ZEPHYR_HELDOUT.read_text("utf-8").splitlines() if line]


def count_taught(rows: list[dict[str, Any]], answers: list[str]) -> int:
    """How many answers contain their row's keyword (case-insensitive)."""
    return sum(
        row["keyword"].lower() in answer.lower() for row, answer in zip(rows, answers, strict=True)
    )


def quickstart_config(model: str = EMBEDDED_MODEL_ID) -> dict[str, Any]:
    """The quickstart notebook's run as a config dict: 20 LoRA steps on the Zephyr facts
    (bench/gguf_export.py trains this one; the GGUF test the same run cut to 6 steps)."""
    return {
        "model": model,
        "dataset": str(ZEPHYR_TRAIN),
        "run_name": "zephyr-quickstart",
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "training": {
            "max_steps": 20,
            "batch_size": 8,
            "grad_accum": 1,
            "learning_rate": 3.0e-3,
            "warmup_ratio": 0.05,
            "logging_steps": 2,
            "save_steps": 1000,
        },
    }
