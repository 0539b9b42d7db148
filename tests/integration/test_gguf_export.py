"""Export to GGUF: the embedded SmolLM2, fine-tuned on the quickstart's data, written by
llama.cpp's converter and read back by transformers' GGUF loader.

The run is the quickstart's, cut to 6 steps: enough to change the model's answers, which is
what the export must carry. That the whole quickstart's facts survive the export is measured
by ``python -m bench.gguf_export`` (docs/export.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from run_helpers import greedy_answer
from transformers import AutoModelForCausalLM, AutoTokenizer

from modelforge_nb import FinetuneConfig
from modelforge_nb.embedded import resolve_model
from modelforge_nb.errors import RunError
from modelforge_nb.examples import quickstart_config, zephyr_heldout
from modelforge_nb.export.gguf import ANSWER_TOKENS, export_gguf
from modelforge_nb.runs import Run, Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    quickstart = quickstart_config()
    config = FinetuneConfig.from_dict(
        {
            **quickstart,
            "run_name": "zephyr-gguf",
            "training": {**quickstart["training"], "max_steps": 6, "logging_steps": 1},
        }
    )
    run = Workspace(tmp_path_factory.mktemp("gguf-home")).finetune(config, wait=True)
    assert run.status == "completed", run.error
    return run


def test_the_quickstart_model_exports_to_f16_and_q8_0_and_answers_alike(
    quickstart_run: Run, tmp_path: Path
) -> None:
    heldout = zephyr_heldout()
    questions = [row["input"] for row in heldout]

    f16 = export_gguf(
        quickstart_run, tmp_path / "out", quantization="f16", questions=questions, log=_quiet
    )
    assert f16.path.is_file() and f16.path.name.endswith("-f16.gguf")
    merged = [a.merged for a in f16.answers]
    # The base model's answers, asked the same way (its chat template): the fine-tune
    # changed some of them, so a file that answers as the merged model carries the fine-tune.
    source = resolve_model(quickstart_run.config.model)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(source)
    base = [
        greedy_answer(
            model, tokenizer, q, max_new_tokens=ANSWER_TOKENS, skip_special_tokens=True
        ).strip()
        for q in questions
    ]
    assert merged != base, merged
    assert f16.top1_agreement == 1.0
    assert [a.gguf for a in f16.answers] == merged
    assert f16.answers_agree == 1.0

    q8 = export_gguf(
        quickstart_run, tmp_path / "out", quantization="q8_0", questions=questions, log=_quiet
    )
    assert q8.size_bytes < f16.size_bytes * 0.7
    assert q8.top1_agreement >= 0.8
    assert [a.merged for a in q8.answers] == merged
    assert q8.answers_agree is not None and q8.answers_agree >= 0.5, q8.answers

    modelfile = f16.modelfile.read_text(encoding="utf-8")
    assert modelfile.startswith(f"FROM ./{f16.path.name}\n")
    assert "<|im_start|>" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert q8.modelfile != f16.modelfile  # each export keeps its own


def _quiet(_message: str) -> None:
    pass


def test_an_existing_file_is_never_written_over(quickstart_run: Run, tmp_path: Path) -> None:
    taken = tmp_path / "mine.gguf"
    taken.write_bytes(b"keep me")
    with pytest.raises(RunError) as raised:
        export_gguf(quickstart_run, taken, quantization="f16", log=_quiet)
    assert raised.value.code == "gguf.target_exists"
    assert taken.read_bytes() == b"keep me"
    with pytest.raises(RunError, match="q4_k") as unknown:
        export_gguf(quickstart_run, quantization="q4_k", log=_quiet)
    assert unknown.value.code == "gguf.quantization"
