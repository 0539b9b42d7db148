"""Export to GGUF: the embedded SmolLM2, fine-tuned as the quickstart does, written by
llama.cpp's converter and read back by transformers' GGUF loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelforge_nb import FinetuneConfig
from modelforge_nb.errors import RunError
from modelforge_nb.examples import count_taught, quickstart_config, zephyr_heldout
from modelforge_nb.gguf_export import export_gguf
from modelforge_nb.runs import Run, Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    config = FinetuneConfig.from_dict({**quickstart_config(), "run_name": "zephyr-gguf"})
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
    taught = count_taught(heldout, merged)
    assert taught >= 3, merged  # the fine-tune taught the facts the check looks for
    assert f16.top1_agreement == 1.0
    assert [a.gguf for a in f16.answers] == merged
    assert f16.answers_agree == 1.0

    q8 = export_gguf(
        quickstart_run, tmp_path / "out", quantization="q8_0", questions=questions, log=_quiet
    )
    assert q8.size_bytes < f16.size_bytes * 0.7
    assert q8.top1_agreement >= 0.8
    assert [a.merged for a in q8.answers] == merged
    q8_answers = [a.gguf for a in q8.answers]
    assert count_taught(heldout, q8_answers) == taught, (merged, q8_answers)

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
