"""``make bench`` compares like with like: the plain trl script trains what modelforge_nb does.

The bench refuses to report a ratio when the two sides' effective records differ (training
arguments, LoRA config, model, tokenized data), so a default changed on one side only (the
worker's ``logging_nan_inf_filter=False``, say, with bench/plain_trl.py left as it was)
would stop ``make bench`` and nothing else. This test trains both sides for two steps and
fails with the differing fields, ``arguments.logging_nan_inf_filter: True != False`` for
that one, naming the side to change. No timing is asserted.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from repo_paths import REPO_ROOT

pytestmark = pytest.mark.slow


def _bench() -> ModuleType:
    # From its file: make test-colab runs with ``python -P`` (no repository root on sys.path).
    spec = importlib.util.spec_from_file_location("bench_run", REPO_ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_plain_trl_script_trains_what_modelforge_nb_trains(tmp_path: Path) -> None:
    differences = _bench().like_for_like(tmp_path, steps=2)
    assert differences == [], (
        "bench/plain_trl.py no longer trains what the worker does (plain trl != "
        "modelforge_nb); set the argument in bench/plain_trl.py as modelforge_nb/tuner/ "
        "does:\n" + "\n".join(differences)
    )
