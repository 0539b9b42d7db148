"""ORPO, KTO and GRPO through the one config, runner, preflight and dashboard.

GRPO's rewards are functions written here as a user writes them in a notebook cell: they
travel to the worker process with cloudpickle, are tried on real completions before
training, and their curves land in the dashboard.
"""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from repo_paths import REPO_ROOT

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.data import check_dataset
from modelforge_nb.errors import ConfigError
from modelforge_nb.runs import Workspace
from modelforge_nb.widgets.curves import curves_of

SAMPLES = REPO_ROOT / "tests" / "data" / "formats"
FIVE_STEPS = {"max_steps": 5, "batch_size": 2, "grad_accum": 1, "logging_steps": 1}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "sample"),
    [("orpo", "preference_conversational.jsonl"), ("kto", "kto_binary_feedback.jsonl")],
)
def test_orpo_and_kto_train_five_steps(
    method: str, sample: str, tiny_causal: Path, tmp_path: Path
) -> None:
    config = FinetuneConfig(
        method=method, model=str(tiny_causal), dataset=str(SAMPLES / sample), training=FIVE_STEPS
    )
    run = Workspace(tmp_path).finetune(config, wait=True)
    assert run.status == "completed", run.error
    assert run.metrics["global_step"] == 5
    losses = [e["loss"] for e in run.events if e["type"] == "log" and "loss" in e]
    assert len(losses) == 5 and all(isinstance(x, float) for x in losses)


def test_grpo_prompts_are_recognised_and_keep_their_other_columns(tiny_causal: Path) -> None:
    config = FinetuneConfig(
        method="grpo",
        model=str(tiny_causal),
        dataset=str(SAMPLES / "prompts_with_solution.jsonl"),
        grpo={"rewards": ["exact_match:solution"]},
    )
    report = check_dataset(config)
    assert report.ok, report.summary()
    assert report.data_format == "conversational-prompt-only"
    assert not report.warnings  # the solution column goes to the rewards, not ignored


def correct(completions: list[Any], solution: list[str], **_kw: Any) -> list[float]:
    """Exact match: the completion's last number is the solution."""
    out = []
    for completion, expected in zip(completions, solution, strict=True):
        numbers = re.findall(r"\d+", completion[0]["content"])
        out.append(1.0 if numbers and numbers[-1] == expected else 0.0)
    return out


def digits(completions: list[Any], **_kw: Any) -> list[float]:
    """Format: answer with a number only (the share of characters that are digits)."""
    texts = [c[0]["content"] for c in completions]
    return [sum(ch.isdigit() for ch in t) / max(len(t), 1) for t in texts]


def _grpo(model: Path, steps: int = 20, **grpo: Any) -> FinetuneConfig:
    return FinetuneConfig(
        method="grpo",
        model=str(model),
        dataset=str(SAMPLES / "prompts_with_solution.jsonl"),
        adapter="full",
        grpo={"max_completion_length": 8, "num_generations": 4, **grpo},
        training={
            "max_steps": steps,
            "batch_size": 8,
            "grad_accum": 1,
            "logging_steps": 1,
            "learning_rate": 3e-2,
            "scheduler": "constant",
            "warmup_ratio": 0,
        },
    )


@pytest.mark.slow
def test_grpo_with_notebook_rewards_raises_the_mean_reward(
    tiny_causal: Path, tmp_path: Path
) -> None:
    run = Workspace(tmp_path).finetune(_grpo(tiny_causal), wait=True, rewards=[correct, digits])
    assert run.status == "completed", run.error
    assert run.config.grpo.rewards == ["correct", "digits"]  # recorded for resume and the card
    logs = [e for e in run.events if e["type"] == "log" and "reward" in e]
    assert len(logs) == 20
    rewards = [e["reward"] for e in logs]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > first + 0.2, rewards
    assert {"rewards/correct/mean", "rewards/digits/std", "completions/mean_length"} <= set(
        logs[-1]
    )
    samples = next(e for e in run.events if e["type"] == "samples")["samples"]
    assert len(samples) == 4 and set(samples[0]["rewards"]) == {"correct", "digits"}
    curves = curves_of(run)
    plots = curves.plots_html()
    assert "Reward (mean)" in plots and "Completion length" in plots
    assert "Sample completions and their rewards" in curves.samples_html()
    from modelforge_nb.widgets.chat import ChatWidget

    chat = ChatWidget(run)  # the chat shows what the rewards made of the samples
    assert "Sample completions and their rewards" in chat.transcript_html()
    assert html.escape(samples[0]["completion"][:20]) in chat.samples.value


def broken(completions: list[Any], solution: list[str], **_kw: Any) -> list[float]:
    scores = []
    for completion in completions:
        scores.append(len(completion) / int("not a number"))  # the user's bug
    return scores


def test_a_reward_that_raises_is_refused_before_training_with_its_own_traceback(
    tiny_causal: Path, tmp_path: Path
) -> None:
    run = Workspace(tmp_path).finetune(
        _grpo(tiny_causal, steps=2), wait=True, rewards=[digits, broken]
    )
    assert run.status == "failed"
    assert run.error is not None and "'broken'" in run.error and "ValueError" in run.error
    details = run.error_details or ""
    assert 'int("not a number")' in details and "test_methods.py" in details
    assert "trl" not in details and "grpo_trainer" not in details  # the user's frames only
    assert not [e for e in run.events if e["type"] == "log"]  # no step was trained


def test_a_reward_returning_the_wrong_shape_is_refused(tiny_causal: Path, tmp_path: Path) -> None:
    def one_number(completions: list[Any], **_kw: Any) -> float:
        return 1.0

    run = Workspace(tmp_path).finetune(_grpo(tiny_causal, steps=2), wait=True, rewards=[one_number])
    assert run.status == "failed"
    assert "'one_number' returned float" in (run.error or "")


_LOCK = threading.Lock()


def locked(completions: list[Any], **_kw: Any) -> list[float]:
    with _LOCK:
        return [0.0] * len(completions)


def test_rewards_that_cannot_ship_or_do_not_exist_are_refused_before_a_run_exists(
    tiny_causal: Path, tmp_path: Path
) -> None:
    workspace = Workspace(tmp_path)
    with pytest.raises(ConfigError) as shipped:
        workspace.finetune(_grpo(tiny_causal), rewards=[locked])
    assert shipped.value.code == "grpo.reward_not_shippable" and "'locked'" in str(shipped.value)
    with pytest.raises(ConfigError) as unknown:
        workspace.finetune(_grpo(tiny_causal, rewards=["corect"]), namespace={"correct": correct})
    assert unknown.value.field == "grpo.rewards" and "'corect'" in str(unknown.value)
    with pytest.raises(ConfigError, match=r"grpo\.num_generations"):
        FinetuneConfig.from_dict({**_grpo(tiny_causal).to_dict(), "grpo": {"num_generations": 3}})
    assert workspace.list_runs() == []


def test_a_grpo_job_folder_carries_its_rewards_into_the_run(
    tiny_causal: Path, tmp_path: Path
) -> None:
    """Exported to another machine, a GRPO run takes its notebook's rewards along: the job
    folder holds them, and the run folder ``launch.sh`` makes gets them."""
    from modelforge_nb.export.job import export_job, prepare
    from modelforge_nb.rewards import REWARDS_FILE, load

    config = _grpo(tiny_causal, rewards=["correct", "exact_match:solution"])
    job = export_job(config, tmp_path / "job", namespace={"correct": correct})
    assert (job / REWARDS_FILE).is_file() and "rewards.pkl" in (job / "README.md").read_text()
    run_dir = Path(prepare(job)[0])
    rewards, sources = load(run_dir)
    assert [name for name, _f in rewards] == ["correct", "exact_match:solution"]
    sample = [[{"role": "assistant", "content": "It is 7"}]]
    assert rewards[0][1](completions=sample, solution=["7"]) == [1.0]
    assert "correct" in sources  # tracebacks can point at the notebook's lines
    with pytest.raises(ConfigError, match="'correct'"):
        export_job(config, tmp_path / "other")  # no such function anywhere


def test_the_preview_shows_each_kto_answer_as_marked_and_grpo_prompts_without_loss(
    tiny_causal: Path,
) -> None:
    from modelforge_nb.plan import preview

    kto = FinetuneConfig(
        method="kto", model=str(tiny_causal), dataset=str(SAMPLES / "kto_binary_feedback.jsonl")
    )
    shown = preview(kto, n=2)
    assert [item.part for item in shown] == ["desirable", "undesirable"]
    assert shown[0].target.startswith("Five plus five is ten.")
    assert shown[1].target.startswith("The Zephyr kettle is red.")
    grpo = _grpo(tiny_causal, rewards=["exact_match:solution"])
    (first,) = preview(grpo, n=1)
    assert first.part == "prompt" and not any(first.loss)
    assert first.text.endswith("<|im_start|>assistant\n")  # the model writes from here
