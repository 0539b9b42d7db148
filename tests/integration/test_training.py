"""Real training in a worker process on the tiny models: every task and method.

The runs start together (one worker process each) and the tests check what each one
learned and wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from run_helpers import greedy_answer, one_thread_per_worker
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.runs import Run, Workspace

pytestmark = pytest.mark.slow

FAST = {
    "max_steps": 24,
    "learning_rate": 1e-2,
    "batch_size": 8,
    "grad_accum": 1,
    "logging_steps": 4,
    "save_steps": 12,
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def runs(
    workspace: Workspace,
    tiny_causal: Path,
    tiny_seq2seq: Path,
    tiny_qa: Path,
    tiny_data: dict[str, Path],
) -> dict[str, Run]:
    def config(data: str, model: Path, **extra: Any) -> FinetuneConfig:
        return FinetuneConfig(
            model=str(model),
            dataset=str(tiny_data[data]),
            eval_dataset=str(tiny_data[f"{data}_eval"]),
            **{"training": FAST, **extra},
        )

    configs = {
        "lora": config("sft", tiny_causal, run_name="sft-lora"),
        "full": config(
            "sft", tiny_causal, adapter="full", training={**FAST, "learning_rate": 2e-3}
        ),
        "chat": config("chat", tiny_causal),
        "dpo": config("dpo", tiny_causal, method="dpo"),
        "summarization": config("summarization", tiny_seq2seq, task="summarization"),
        "qa": config("qa", tiny_qa, task="extractive-question-answering"),
    }
    with one_thread_per_worker():  # six runs share the machine's cores
        started = {name: workspace.finetune(c) for name, c in configs.items()}
    for run in started.values():
        run.wait(timeout=600)
    return started


def _losses(run: Run, key: str = "loss") -> list[float]:
    return [e[key] for e in run.history if e["type"] == "log" and key in e]


def _assert_learned(run: Run) -> None:
    assert run.status == "completed", (run.error, (run.output_dir / "worker.log").read_text())
    losses = _losses(run)
    assert len(losses) >= 3
    assert losses[-1] < losses[0] * 0.95, losses


def test_sft_lora_learns_and_the_adapter_changes_the_output(
    runs: dict[str, Run], tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    run = runs["lora"]
    _assert_learned(run)
    adapter = run.output_dir / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not list(adapter.glob("*.bin")), "safetensors only"
    assert json.loads((run.output_dir / "prompt_format.json").read_text()) == {
        "kind": "chat_template"
    }
    from peft import PeftModel

    tokenizer = AutoTokenizer.from_pretrained(adapter)
    base = AutoModelForCausalLM.from_pretrained(tiny_causal)
    prompt = json.loads(tiny_data["sft"].read_text().splitlines()[0])["input"]
    before = greedy_answer(base, tokenizer, prompt, max_new_tokens=8)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_causal), adapter)
    assert greedy_answer(tuned, tokenizer, prompt, max_new_tokens=8) != before
    metrics = run.metrics
    assert metrics["global_step"] == FAST["max_steps"]
    assert metrics["perplexity"] > 1 and metrics["eval_loss"] > 0
    frame = run.history_frame()
    assert {"step", "loss", "learning_rate"} <= set(frame.columns)
    events = [e["type"] for e in run.events]
    kinds = [kind for kind in events if kind != "stage"]  # stages come before the first step
    assert kinds[0] == "start" and kinds[-1] == "end" and "checkpoint" in kinds
    assert events.index("stage") < events.index("log")
    start = next(e for e in run.events if e["type"] == "start")
    assert start["data_hash"] and start["versions"]["transformers"]
    # What the trainer really ran with is recorded, library defaults included.
    effective = json.loads((run.output_dir / "effective_args.json").read_text())
    assert effective["trainer"] == "SFTTrainer"
    assert effective["arguments"]["gradient_checkpointing"] is False
    assert effective["arguments"]["max_steps"] == FAST["max_steps"]
    assert effective["peft"]["default"]["r"] == run.config.lora.r
    assert 0 < effective["model"]["trainable"] < effective["model"]["parameters"]
    assert effective["train_data"]["rows"] == start["rows"]
    assert metrics["peak_memory_bytes"] > effective["model"]["parameters"] * 4


def test_full_fine_tuning_writes_a_loadable_model(runs: dict[str, Run]) -> None:
    run = runs["full"]
    _assert_learned(run)
    model_dir = run.output_dir / "model"
    assert (model_dir / "model.safetensors").is_file()
    # Every weight was trained, so the saved model differs from the base in every matrix.
    saved = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    base = AutoModelForCausalLM.from_pretrained(run.config.model).state_dict()
    assert saved.keys() == base.keys()
    changed = [k for k in saved if saved[k].dim() == 2 and not saved[k].equal(base[k])]
    assert len(changed) == sum(1 for k in saved if saved[k].dim() == 2)
    # Side by side, the "base" of a full fine-tune is the model it started from.
    from modelforge_nb.chat import generate, generate_pair

    prompt, greedy = "What is two plus three?", {"temperature": 0, "max_new_tokens": 8}
    pieces = list(generate_pair(run, prompt, **greedy))
    for side, use_adapter in (("base", False), ("tuned", True)):
        answer = "".join(piece for s, piece in pieces if s == side).strip()
        assert answer == generate(run, prompt, use_adapter=use_adapter, **greedy)


def test_chat_messages_train(runs: dict[str, Run]) -> None:
    _assert_learned(runs["chat"])


def test_dpo_on_preference_pairs(runs: dict[str, Run]) -> None:
    run = runs["dpo"]
    _assert_learned(run)
    # After training, the chosen answers out-score the rejected ones more often than chance,
    # and the margin between them has opened up.
    assert run.metrics["reward_accuracy"] > 0.5
    assert run.metrics["eval_rewards/margins"] > 0


def test_audit_02_summarization_trains_and_writes_valid_json(runs: dict[str, Run]) -> None:
    run = runs["summarization"]
    _assert_learned(run)
    assert {"rouge1", "rouge2", "rougeL"} <= set(run.metrics)
    for name in (
        "config.json",
        "status.json",
        "metrics.json",
        "run.json",
        "adapter/adapter_config.json",
    ):
        json.loads((run.output_dir / name).read_text())
    for line in (run.output_dir / "events.jsonl").read_text().splitlines():
        json.loads(line)
    assert run.config.task == "summarization"
    from peft import PeftModel

    base_path = json.loads((run.output_dir / "config.json").read_text())["model"]
    base = AutoModelForSeq2SeqLM.from_pretrained(base_path)
    tuned = PeftModel.from_pretrained(
        AutoModelForSeq2SeqLM.from_pretrained(base_path), run.output_dir / "adapter"
    )
    tokenizer = AutoTokenizer.from_pretrained(run.output_dir / "adapter")
    inputs = tokenizer("the adapter loads and changes the summary", return_tensors="pt")
    before = base.generate(**inputs, max_new_tokens=6, do_sample=False)
    after = tuned.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert before.tolist() != after.tolist()


def test_extractive_question_answering(runs: dict[str, Run]) -> None:
    run = runs["qa"]
    _assert_learned(run)
    # The tiny QA data is learnable: most held-out answers come out exactly.
    assert run.metrics["exact_match"] >= 50, run.metrics
    assert run.metrics["f1"] >= 60, run.metrics


def test_runs_are_listed_and_found(runs: dict[str, Run], workspace: Workspace) -> None:
    listed = {r.id for r in workspace.list_runs()}
    assert {r.id for r in runs.values()} <= listed
    found = workspace.get_run(runs["lora"].id)
    assert found.name == "sft-lora" and found.status == "completed"
    row = workspace.registry.get(runs["lora"].id)
    assert row is not None and row["status"] == "completed" and row["step"] == FAST["max_steps"]
    assert row["last_loss"] == pytest.approx(_losses(runs["lora"])[-1])
    # The listing reads finished runs from the index; it says what each folder says.
    listed_summaries = {s["id"]: s for s in workspace.summaries()}
    for run in runs.values():
        summary = listed_summaries[run.id]
        assert summary == run.summary()
        assert summary["status"] == "completed" and summary["metrics"] == run.metrics
        assert summary["metrics"]["train_loss"] > 0


def test_audit_17_runs_at_once_keep_their_own_status(
    runs: dict[str, Run], workspace: Workspace
) -> None:
    assert len({r.output_dir for r in runs.values()}) == len(runs)
    for name, run in runs.items():
        # Read back from disk by id: each run kept its own task, method, adapter and data.
        again = workspace.get_run(run.id)
        assert again.status == "completed"
        saved = json.loads((run.output_dir / "config.json").read_text())
        expected = {
            "lora": ("text-generation", "sft", "lora", "sft"),
            "full": ("text-generation", "sft", "full", "sft"),
            "chat": ("text-generation", "sft", "lora", "chat"),
            "dpo": ("text-generation", "dpo", "lora", "dpo"),
            "summarization": ("summarization", "sft", "lora", "summarization"),
            "qa": ("extractive-question-answering", "sft", "lora", "qa"),
        }[name]
        got = (saved["task"], saved["method"], saved["adapter"], Path(saved["dataset"]).stem)
        assert got == expected, (name, got)
        status = json.loads((run.output_dir / "status.json").read_text())
        assert status["status"] == "completed"
