"""Shared fixtures: the tiny models and example data are built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples on every run, so a green commit stays green; a local run
# explores new ones each time (that is how "~0" as a model was found to crash the config).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # With pytest-xdist each test process (and every training worker it starts) shares the
    # cores with the others; torch's default of one thread per core then spends its time in
    # OpenMP's spin-waits (see tests/run_helpers.py:one_thread_per_worker).
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelforge_nb import tiny

    return tiny.build_causal_lm(tmp_path_factory.mktemp("tiny") / "causal")


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelforge_nb import tiny

    return tiny.build_seq2seq_lm(tmp_path_factory.mktemp("tiny") / "seq2seq")


@pytest.fixture(scope="session")
def tiny_qa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelforge_nb import tiny

    return tiny.build_extractive_qa(tmp_path_factory.mktemp("tiny") / "qa")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from modelforge_nb import tiny

    return tiny.write_datasets(tmp_path_factory.mktemp("data"))
