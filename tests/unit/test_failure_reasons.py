"""The one-line reason a failed run records: what the user reads in the runs table."""

from __future__ import annotations

import torch

from modelforge_nb.errors import DatasetError
from modelforge_nb.tuner.worker import _one_line


def test_gpu_out_of_memory_names_the_changes_that_help() -> None:
    error = torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 14.75 GiB total capacity)\nmore"
    )
    reason = _one_line(error)
    assert reason.startswith("Out of memory (CUDA out of memory. Tried to allocate 2.00 GiB")
    assert "gradient_checkpointing" in reason and "batch_size" in reason
    assert "\n" not in reason and len(reason) <= 500


def test_cpu_out_of_memory_is_reported_the_same_way() -> None:
    assert _one_line(MemoryError()).startswith("Out of memory (MemoryError).")


def test_other_failures_keep_their_type_and_first_line() -> None:
    assert _one_line(ValueError("bad value\ntraceback noise")) == "ValueError: bad value"
    error = DatasetError("dataset.empty", "The file has no rows.", field="dataset")
    assert "no rows" in _one_line(error)
