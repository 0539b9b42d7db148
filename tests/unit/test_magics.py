"""The magics' argument parsing: help, subcommands, and short errors instead of tracebacks."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from modelforge_nb.magics import ModelForgeMagics, build_parser
from modelforge_nb.session import Session


@pytest.fixture
def magics(tmp_path: Path) -> ModelForgeMagics:
    shell = InteractiveShell.instance()
    instance = ModelForgeMagics(shell, Session(tmp_path))
    shell.register_magics(instance)
    return instance


def _subcommands() -> dict[str, str]:
    """Every subcommand the parser knows, with its help line (read from the parser itself)."""
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {choice.dest: choice.help or "" for choice in action._choices_actions}


def test_help_lists_every_subcommand(
    magics: ModelForgeMagics, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = _subcommands()
    assert len(commands) >= 14 and "finetune" in commands
    # Each one the parser takes has a handler, and no handler is out of the parser's reach.
    assert set(magics.handlers) == set(commands)
    magics.modelforge("--help")
    text = " ".join(capsys.readouterr().out.split())
    for command, help_line in commands.items():
        assert command in text and " ".join(help_line.split()) in text, command
    magics.modelforge("show --help")
    assert "run id" in capsys.readouterr().out


def test_bad_arguments_print_a_short_message(
    magics: ModelForgeMagics, capsys: pytest.CaptureFixture[str]
) -> None:
    magics.modelforge("stop")
    assert "the following arguments are required: run" in capsys.readouterr().out
    magics.modelforge("show no-such-run")
    out = capsys.readouterr().out
    assert out.startswith("modelforge: run: There is no run 'no-such-run'")
    magics.modelforge("show ../../etc")
    assert "is not a run id" in capsys.readouterr().out


def test_finetune_cell_errors_name_the_fields(
    magics: ModelForgeMagics, capsys: pytest.CaptureFixture[str]
) -> None:
    magics.modelforge("finetune", "model: m\ntraining: {batch_size: 0}\n")
    out = capsys.readouterr().out
    assert "training.batch_size" in out and "dataset" in out and "Traceback" not in out
    magics.modelforge("finetune", "")
    assert "needs a YAML config" in capsys.readouterr().out
    magics.modelforge("finetune", "model: m\ndataset: /nope/train.jsonl\n")
    out = capsys.readouterr().out
    assert "would fail" in out and "/nope/train.jsonl" in out


def test_chat_and_push_need_a_known_run(
    magics: ModelForgeMagics, capsys: pytest.CaptureFixture[str]
) -> None:
    magics.modelforge("chat some-run")
    assert "There is no run 'some-run'" in capsys.readouterr().out
    magics.modelforge("push some-run me/model")
    assert "There is no run 'some-run'" in capsys.readouterr().out


def test_panel_can_be_filled_with_a_dataset_and_a_model(
    magics: ModelForgeMagics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"input": "a", "output": "b"}\n', encoding="utf-8")
    form = magics.session.main_panel(dataset=str(data), model="HuggingFaceTB/SmolLM2-360M-Instruct")
    assert form.controls["dataset"].widget.value == str(data)
    assert form.controls["dataset"].message.value == ""
    assert form.controls["model"].widget.value == "HuggingFaceTB/SmolLM2-360M-Instruct"
    empty = magics.session.main_panel()
    assert empty.controls["dataset"].message.value == ""  # nothing red before a touch
    assert "1 field to fill in" in empty.problems.value
    magics.modelforge(f"panel --dataset {data}")
    assert "error" not in capsys.readouterr().out


def test_export_a_cell_and_attach_its_run_folder(
    magics: ModelForgeMagics,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tiny_causal: Path,
    tiny_data: dict[str, Path],
) -> None:
    import modelforge_nb.rundir as rundir
    from modelforge_nb.config import FinetuneConfig

    cell = f"model: {tiny_causal}\ndataset: {tiny_data['sft']}\n"
    magics.modelforge(f"export --to {tmp_path / 'job'}", cell)
    assert "job written to" in capsys.readouterr().out
    assert FinetuneConfig.from_file(tmp_path / "job" / "config.yaml").model == str(tiny_causal)
    magics.modelforge(f"export --to {tmp_path / 'job'}", cell)
    assert "is not an empty folder" in capsys.readouterr().out
    magics.modelforge(f"attach {tmp_path / 'job'}")
    assert "is not a run folder" in capsys.readouterr().out  # launch.sh has not run yet
    run_dir = rundir.job_run_folder(tmp_path / "job")
    from modelforge_nb.export.job import prepare

    assert prepare(tmp_path / "job") == [str(run_dir)]
    magics.modelforge(f"attach {tmp_path / 'job'}")
    assert f"run {run_dir.name}: queued" in capsys.readouterr().out
    magics.modelforge("runs")
    magics.modelforge("export --to elsewhere")
    assert "needs a run id" in capsys.readouterr().out


@pytest.mark.slow
def test_export_gguf_names_what_llama_cpp_cannot_convert(
    magics: ModelForgeMagics,
    capsys: pytest.CaptureFixture[str],
    tiny_causal: Path,
    tiny_data: dict[str, Path],
) -> None:
    """The tiny model's own tokenizer is one llama.cpp does not know: the magic says so, and
    leaves no half-written file (the real conversion: tests/integration/test_gguf_export.py)."""
    from modelforge_nb.config import FinetuneConfig

    config = FinetuneConfig(
        model=str(tiny_causal), dataset=str(tiny_data["sft"]), training={"max_steps": 1}
    )
    run = magics.session.workspace.finetune(config, wait=True)
    magics.modelforge("export --gguf")
    assert "needs a run id" in capsys.readouterr().out
    magics.modelforge("export")
    assert "needs --to FOLDER" in capsys.readouterr().out
    magics.modelforge(f"export {run.id} --gguf --quantization f16")
    out = capsys.readouterr().out
    assert "pre-tokenizer is not one llama.cpp knows" in out
    gguf = run.output_dir / "gguf"
    assert not list(gguf.glob("*.gguf*partial")) and not list(gguf.glob("*.gguf"))
    assert list(gguf.glob("*.convert.log"))


def test_a_trailing_comment_is_ignored_and_quotes_still_group(
    magics: ModelForgeMagics, capsys: pytest.CaptureFixture[str]
) -> None:
    """IPython passes a line magic its ``# comment``; the README's Quickstart has two."""
    magics.modelforge("show no-such-run  # the live dashboard")
    out = capsys.readouterr().out
    assert out.startswith("modelforge: run: There is no run 'no-such-run'")
    magics.modelforge('show "two words" # a comment')
    assert "'two words' is not a run id" in capsys.readouterr().out
    magics.modelforge("hardware   # GPUs, memory, disk")
    assert "unrecognized arguments" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "reason"),
    [('stop "unclosed', "a quote is not closed"), ("show a\\", "ends in a backslash")],
)
def test_a_malformed_line_is_a_usage_message_not_a_traceback(
    magics: ModelForgeMagics, capsys: pytest.CaptureFixture[str], line: str, reason: str
) -> None:
    magics.modelforge(line)
    out = capsys.readouterr().out
    assert reason in out and line in out and "Traceback" not in out
