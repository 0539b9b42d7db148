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
