"""Preflight on this CPU machine: hardware, estimates, recommendations and the verdict."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
)

from modelforge_nb.config import TASKS, FinetuneConfig
from modelforge_nb.embedded import EMBEDDED_MODEL_ID
from modelforge_nb.hardware import GpuInfo, HardwareInfo, tier_for
from modelforge_nb.plan import detect_hardware, model_shape, preflight, recommend
from modelforge_nb.plan.estimate import Estimate, estimate_run, read_model_config
from modelforge_nb.plan.recommend import load_catalog


def test_audit_01_hardware_detection_and_recommendation_run_twice_on_a_cpu_machine() -> None:
    first = detect_hardware(refresh=True)
    second = detect_hardware()
    third = detect_hardware(refresh=True)
    for info in (first, second, third):
        assert info.tier == "cpu" and not info.has_cuda
        assert info.cpu_count >= 1 and info.ram_total_bytes > 0
    assert second is first
    for _ in range(2):
        picks = recommend("text-generation")
        assert picks[0].model == EMBEDDED_MODEL_ID
        assert all(p.peak_bytes <= p.budget_bytes for p in picks)
    assert "tier: cpu" in first.summary()


def test_tiers_follow_the_thresholds() -> None:
    gb = 10**9
    assert tier_for(0, 64 * gb) == "cpu"
    assert tier_for(6 * gb, 64 * gb) == "low"
    assert tier_for(12 * gb, 8 * gb) == "low"
    assert tier_for(12 * gb, 32 * gb) == "mid"
    assert tier_for(16 * gb, 32 * gb) == "high"


def test_every_catalog_entry_fits_its_task() -> None:
    for entry in load_catalog():
        assert entry["architecture"] == entry["config"]["model_type"]
        assert entry["architecture"] in TASKS[entry["task"]].architectures(), entry["id"]
        assert model_shape(entry["config"], entry["task"]).params > 0


def _cpu_machine() -> HardwareInfo:
    return HardwareInfo((), 2, 24 * 10**9, 20 * 10**9, "cpu", "described")


def _gpu_machine(total_gb: float, free_gb: float, *, bf16: bool = True) -> HardwareInfo:
    """A described machine: the recommender and estimator take hardware as data."""
    gpu = GpuInfo(
        0,
        "NVIDIA T4" if not bf16 else "NVIDIA A10",
        int(total_gb * 1e9),
        int(free_gb * 1e9),
        (7, 5) if not bf16 else (8, 6),
        "550",
        bf16,
    )
    return HardwareInfo(
        (gpu,), 8, 32 * 10**9, 30 * 10**9, tier_for(gpu.total_bytes, 32 * 10**9), "described"
    )


def test_recommendations_scale_with_the_gpu() -> None:
    small = {
        p.model: p.adapter for p in recommend("text-generation", _gpu_machine(16, 15, bf16=False))
    }
    large = {p.model: p.adapter for p in recommend("text-generation", _gpu_machine(80, 79))}
    # The 80 GB card is offered everything the 16 GB one is, and models that need its memory.
    assert set(small) < set(large)
    assert "Qwen/Qwen2.5-72B-Instruct" in large and "Qwen/Qwen2.5-72B-Instruct" not in small
    # A 7B model fits 16 GB only quantized; on 80 GB it trains in 16 bits.
    assert (small["Qwen/Qwen2.5-7B-Instruct"], large["Qwen/Qwen2.5-7B-Instruct"]) == (
        "qlora",
        "lora",
    )
    summarization = recommend("summarization", _gpu_machine(16, 15))
    assert summarization and all(p.architecture in {"t5", "bart"} for p in summarization)


def test_qlora_on_cpu_says_it_needs_cuda(tiny_causal: Path, tiny_data: dict[str, Path]) -> None:
    config = FinetuneConfig(model=str(tiny_causal), dataset=str(tiny_data["sft"]), adapter="qlora")
    report = preflight(config)
    assert not report.ok
    (problem,) = [p for p in report.problems if p.code == "quant.needs_cuda"]
    assert "CUDA GPU" in str(problem) and problem.field == "adapter"


def test_an_unreachable_hub_model_in_the_catalog_is_estimated_from_the_catalog(
    tiny_data: dict[str, Path],
) -> None:
    config = FinetuneConfig(
        model="Qwen/Qwen2.5-0.5B-Instruct",
        dataset=str(tiny_data["sft"]),
        adapter="qlora",
        training={"batch_size": 1, "max_seq_length": 128},  # small enough for any CI machine
    )
    report = preflight(config)
    assert "model.offline" in {w.code for w in report.warnings}
    assert {p.code for p in report.problems} == {"quant.needs_cuda"}
    assert report.estimate is not None and report.shape is not None
    assert report.shape.params > 400_000_000


def test_an_unreachable_hub_model_outside_the_catalog_is_a_problem(
    tiny_data: dict[str, Path],
) -> None:
    config = FinetuneConfig(model="someone/not-in-the-catalog", dataset=str(tiny_data["sft"]))
    report = preflight(config)
    (problem,) = [p for p in report.problems if p.code == "model.unreachable"]
    assert problem.field == "model" and "someone/not-in-the-catalog" in str(problem)


def test_the_sequence_length_is_the_datas_unless_packing_fills_it(
    tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    """Batches are padded to their own longest example: with short rows a max_seq_length of
    512 costs what the rows need, not 512 tokens; packing fills every sequence."""
    from modelforge_nb.data.format import auto_max_length

    def estimate(**training: object) -> Estimate:
        config = FinetuneConfig(
            model=str(tiny_causal), dataset=str(tiny_data["sft"]), training=training
        )
        report = preflight(config)
        assert report.estimate is not None, report.summary()
        return report.estimate

    auto_report = preflight(FinetuneConfig(model=str(tiny_causal), dataset=str(tiny_data["sft"])))
    assert auto_report.dataset is not None and auto_report.estimate is not None
    longest = auto_report.dataset.longest_tokens
    assert longest is not None and 5 < longest < 200
    auto = auto_report.estimate
    assert auto.sequence_length == auto_max_length(longest) < 512
    fixed = estimate(max_seq_length=512)
    assert fixed.sequence_length == auto.sequence_length
    assert fixed.activations_bytes == auto.activations_bytes
    assert f"the longest example, {longest} tokens" in fixed.summary()
    assert "not to max_seq_length 512" in fixed.sequence_basis
    packed = estimate(max_seq_length=512, packing=True)
    assert packed.sequence_length == 512 and "packing" in packed.sequence_basis
    assert packed.activations_bytes > fixed.activations_bytes
    cut = estimate(max_seq_length=16)
    assert cut.sequence_length == 16 < longest and "reaches it" in cut.sequence_basis


def test_a_missing_dataset_gives_the_dataset_error_and_no_memory_verdict(
    tmp_path: Path,
) -> None:
    config = FinetuneConfig(
        model=EMBEDDED_MODEL_ID,
        dataset=str(tmp_path / "missing.jsonl"),
        training={"batch_size": 16, "max_seq_length": 2048},
    )
    small = HardwareInfo((), 2, 4 * 10**9, 3 * 10**9, "cpu", "described")
    report = preflight(config, hardware=small)
    problems = {p.code for p in report.problems}
    assert problems == {"dataset.invalid"}, report.summary()
    assert "does not exist" in report.summary()
    assert "memory.not_estimated" in {w.code for w in report.warnings}
    assert report.estimate is None and "peak RAM" not in report.summary()


def test_a_good_config_passes(tiny_causal: Path, tiny_data: dict[str, Path]) -> None:
    config = FinetuneConfig(model=str(tiny_causal), dataset=str(tiny_data["sft"]))
    report = preflight(config)
    assert report.ok, report.summary()
    assert report.estimate is not None and report.shape is not None
    # On the CPU the weights load in fp32: four bytes per parameter.
    assert report.estimate.weights_bytes == 4 * report.shape.params
    assert "gpu.none" in report.codes()
    # every term of the peak is in the summary the form shows, with its figure
    text = report.summary()
    for name, value in report.estimate.terms().items():
        assert f"{name} {value / 1e9:.2f}" in text, name
    assert "How sure:" in text and "s per optimizer step" in text


@pytest.mark.parametrize(
    ("task", "fixture", "fits"),
    [
        ("text-generation", "tiny_qa", "causal"),
        ("summarization", "tiny_causal", "seq2seq"),
        ("text-generation", "tiny_seq2seq", "causal"),
    ],
)
def test_audit_16_model_task_mismatch_is_refused_naming_what_fits(
    task: str, fixture: str, fits: str, tiny_data: dict[str, Path], request: pytest.FixtureRequest
) -> None:
    data = {"causal": "sft", "seq2seq": "summarization", "span": "qa"}[fits]
    model: Path = request.getfixturevalue(fixture)
    report = preflight(FinetuneConfig(task=task, model=str(model), dataset=str(tiny_data[data])))
    (problem,) = [p for p in report.problems if p.code == "model.task_mismatch"]
    assert problem.field == "model"
    suggested = next(e["name"] for e in load_catalog() if e["task"] == task)
    assert suggested in str(problem)
    assert report.estimate is None, "nothing is estimated for a model that cannot do the task"


def test_audit_16_remote_code_model_needs_the_flag(
    tmp_path: Path, tiny_data: dict[str, Path]
) -> None:
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "my_custom_lm",
                "auto_map": {"AutoModelForCausalLM": "modeling.MyLM"},
            }
        )
    )
    report = preflight(FinetuneConfig(model=str(folder), dataset=str(tiny_data["sft"])))
    assert "model.remote_code" in {p.code for p in report.problems}


def _small_filesystem(path: Path, size: str) -> None:
    path.mkdir()
    subprocess.run(
        ["/usr/bin/mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True
    )


def test_audit_07_disk_space_is_checked_on_a_real_small_filesystem(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    small = tmp_path / "small"
    _small_filesystem(small, "1m")
    try:
        config = FinetuneConfig(
            model=str(tiny_causal),
            dataset=str(tiny_data["sft"]),
            output_root=str(small / "runs"),
            adapter="full",
        )
        report = preflight(config)
        (problem,) = [p for p in report.problems if p.code == "disk.insufficient"]
        assert report.estimate is not None
        free = shutil.disk_usage(small).free
        assert f"{report.estimate.disk_bytes:,} bytes" in problem.message
        assert f"{free:,} bytes" in problem.message
        assert problem.field == "output_root"
    finally:
        subprocess.run(["/usr/bin/umount", str(small)], check=True)


@pytest.fixture(scope="module")
def long_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rows longer than 2048 tokens: every batch is as long as max_seq_length."""
    path = tmp_path_factory.mktemp("long") / "long.jsonl"
    rows = [
        {"input": f"Tell story {i}.", "output": " ".join(f"word{i}" for _ in range(2600))}
        for i in range(8)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_memory_over_budget_names_cheaper_settings(long_rows: Path) -> None:
    config = FinetuneConfig(
        model=EMBEDDED_MODEL_ID,
        dataset=str(long_rows),
        training={"batch_size": 16, "max_seq_length": 2048},
    )
    report = preflight(config, hardware=_gpu_machine(16, 6, bf16=False))
    (problem,) = [p for p in report.problems if p.code == "vram.insufficient"]
    assert "It would fit with:" in str(problem)
    assert "gradient_checkpointing" in str(problem) or "qlora" in str(problem)


def _with(config: FinetuneConfig, suggestion: str) -> FinetuneConfig:
    """``config`` changed as the hint says: ``path: value, path: value``."""
    data = config.model_dump()
    for part in suggestion.split(", "):
        path, value = part.split(": ", 1)
        *parents, leaf = path.split(".")
        node = data
        for name in parents:
            node = node[name]
        node[leaf] = yaml.safe_load(value)
    return FinetuneConfig.model_validate(data)


@pytest.mark.parametrize(
    ("free_gb", "training"),
    [
        (6, {"batch_size": 16, "max_seq_length": 2048}),
        (1.2, {"batch_size": 16, "max_seq_length": 2048}),
        (1.5, {"batch_size": 8, "max_seq_length": 1024, "gradient_checkpointing": True}),
    ],
)
def test_each_setting_the_memory_hint_names_does_fit(
    long_rows: Path, free_gb: float, training: dict[str, object]
) -> None:
    """The hint is copied into the config as written, and preflight then finds it fits."""
    config = FinetuneConfig(model=EMBEDDED_MODEL_ID, dataset=str(long_rows), training=training)
    machine = _gpu_machine(16, free_gb, bf16=False)
    (problem,) = [
        p for p in preflight(config, hardware=machine).problems if p.code == "vram.insufficient"
    ]
    assert problem.hint and problem.hint.startswith("It would fit with: "), problem
    suggestions = problem.hint.removeprefix("It would fit with: ").removesuffix(".").split("; or ")
    for suggestion in suggestions:
        changed = _with(config, suggestion)
        assert changed != config
        codes = {p.code for p in preflight(changed, hardware=machine).problems}
        assert "vram.insufficient" not in codes, (suggestion, codes)


def test_bf16_on_a_gpu_without_it(tiny_causal: Path, tiny_data: dict[str, Path]) -> None:
    config = FinetuneConfig(
        model=str(tiny_causal), dataset=str(tiny_data["sft"]), training={"precision": "bf16"}
    )
    report = preflight(config, hardware=_gpu_machine(16, 15, bf16=False))
    assert "precision.bf16_unsupported" in {p.code for p in report.problems}


def test_chat_data_without_a_chat_template_gets_a_warning(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    model = tmp_path / "no_template"
    shutil.copytree(tiny_causal, model)
    (model / "chat_template.jinja").unlink(missing_ok=True)
    settings = json.loads((model / "tokenizer_config.json").read_text())
    settings.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(settings))
    assert not AutoTokenizer.from_pretrained(model).chat_template
    report = preflight(FinetuneConfig(model=str(model), dataset=str(tiny_data["chat"])))
    (warning,) = [w for w in report.warnings if w.code == "tokenizer.no_chat_template"]
    assert "chat template" in str(warning) and "instruct model" in str(warning)


def test_a_template_that_drops_eos_is_caught(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    model = tmp_path / "drops_eos"
    shutil.copytree(tiny_causal, model)
    template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    (model / "chat_template.jinja").write_text(template)
    report = preflight(FinetuneConfig(model=str(model), dataset=str(tiny_data["chat"])))
    assert "tokenizer.template_drops_eos" in {p.code for p in report.problems}


def _write_config(folder: Path, data: dict) -> Path:  # type: ignore[type-arg]
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(data))
    return folder


ARCHITECTURES = {
    "llama": {
        "model_type": "llama",
        "hidden_size": 96,
        "intermediate_size": 256,
        "num_hidden_layers": 3,
        "num_attention_heads": 6,
        "num_key_value_heads": 2,
        "vocab_size": 1000,
        "tie_word_embeddings": False,
    },
    "qwen2": {
        "model_type": "qwen2",
        "hidden_size": 64,
        "intermediate_size": 200,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 1200,
        "tie_word_embeddings": True,
    },
    "gpt2": {
        "model_type": "gpt2",
        "n_embd": 64,
        "n_layer": 3,
        "n_head": 4,
        "vocab_size": 900,
        "n_positions": 128,
    },
}


def _weights_on_disk(folder: Path) -> int:
    """Parameters stored in a folder's safetensors files, counted from the file headers."""
    from safetensors import safe_open

    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as weights:
            for key in weights.keys():  # noqa: SIM118 (safe_open is not a dict)
                total += math.prod(weights.get_slice(key).get_shape())
    return total


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_parameter_count_from_config_alone_matches_the_saved_weights(
    name: str, tmp_path: Path
) -> None:
    folder = _write_config(tmp_path / name, ARCHITECTURES[name])
    shape = model_shape(read_model_config(str(folder)), "text-generation")
    assert not list(folder.glob("*.safetensors")), "no weights were written or read"
    # What a download of this model would hold: build it, save it, count the file.
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder)).save_pretrained(
        tmp_path / "saved"
    )
    assert shape.params == _weights_on_disk(tmp_path / "saved")


def test_parameter_count_matches_the_tiny_models_weight_files(
    tiny_causal: Path, tiny_seq2seq: Path, tiny_qa: Path
) -> None:
    for folder, task in (
        (tiny_causal, "text-generation"),
        (tiny_seq2seq, "summarization"),
        (tiny_qa, "extractive-question-answering"),
    ):
        shape = model_shape(read_model_config(str(folder)), task)
        assert shape.params == _weights_on_disk(folder), folder.name


def test_lora_adapter_size_matches_peft(tiny_causal: Path, tiny_data: dict[str, Path]) -> None:
    from peft import LoraConfig, get_peft_model

    config = FinetuneConfig(
        model=str(tiny_causal), dataset=str(tiny_data["sft"]), lora={"r": 4, "alpha": 8}
    )
    shape = model_shape(read_model_config(str(tiny_causal)), "text-generation")
    estimate = estimate_run(config, shape, detect_hardware())
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_causal),
        LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"),
    )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert estimate.trainable_params == trainable
    assert torch.get_default_dtype() == torch.float32


@pytest.mark.slow
def test_probe_measures_two_real_steps_and_gives_an_eta(
    tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    config = FinetuneConfig(
        model=str(tiny_causal),
        dataset=str(tiny_data["sft"]),
        training={"batch_size": 8, "grad_accum": 1, "max_steps": 30},
    )
    report = preflight(config, probe=True)
    assert report.ok, report.summary()
    assert report.probe is not None and report.probe["probe_status"] == "completed"
    assert report.probe["probe_peak_bytes"] > 10_000_000
    assert report.probe["probe_step_seconds"] > 0
    assert report.probe["total_steps"] == 30
    assert report.probe["eta_seconds"] == pytest.approx(30 * report.probe["probe_step_seconds"])
    assert "measured (2 trial steps" in report.summary()


def test_probe_that_cannot_train_blocks_the_run(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    from modelforge_nb.plan.checks import PreflightReport
    from modelforge_nb.plan.probe import add_probe

    data = tmp_path / "train.jsonl"
    data.write_text(tiny_data["sft"].read_text())
    config = FinetuneConfig(model=str(tiny_causal), dataset=str(data))
    data.unlink()
    report = PreflightReport()
    add_probe(config, report, budget=10**12)
    assert [p.code for p in report.problems] == ["probe.failed"]
    assert "does not exist" in str(report.problems[0])


def test_hardware_profiles_plan_for_the_machines_people_rent() -> None:
    from modelforge_nb.errors import ConfigError
    from modelforge_nb.hardware import hardware_profile, profile_names
    from modelforge_nb.plan.fit import memory_budget

    t4 = hardware_profile("colab-t4")
    assert t4.tier == "mid" and len(t4.gpus) == 1 and not t4.gpus[0].bf16
    assert "Colab" in t4.notes[0] and t4.source == "profile:colab-t4"
    assert len(hardware_profile("kaggle-2xt4").gpus) == 2
    assert hardware_profile("cpu-16gb").tier == "cpu"
    big = recommend("text-generation", hardware_profile("h100-80gb"))
    assert max(p.params for p in big) >= 8e9
    assert any(p.params >= 60e9 and p.adapter == "qlora" for p in big)
    # best first: the largest model that fits leads on a GPU, the fastest on a CPU
    for name in ("colab-t4", "rtx4090-24gb", "h100-80gb"):
        picks = recommend("text-generation", hardware_profile(name))
        assert picks[0].params == max(p.params for p in picks) > 1e9, name
    assert picks[0].model != EMBEDDED_MODEL_ID
    laptop = recommend("text-generation", hardware_profile("cpu-16gb"))
    assert laptop[0].model == EMBEDDED_MODEL_ID
    for name in profile_names():
        machine = hardware_profile(name)
        for task in TASKS:
            for pick in recommend(task, machine):
                assert pick.budget_bytes == memory_budget(machine)
                assert pick.peak_bytes <= 0.9 * pick.budget_bytes, (name, pick)
    with pytest.raises(ConfigError) as caught:
        hardware_profile("tpu-v5")
    assert "colab-t4" in str(caught.value) and caught.value.field == "hardware"


def test_preflight_plans_for_a_profile(tiny_causal: Path, tiny_data: dict[str, Path]) -> None:
    from modelforge_nb.hardware import hardware_profile

    config = FinetuneConfig(
        model=str(tiny_causal), dataset=str(tiny_data["sft"]), training={"precision": "bf16"}
    )
    report = preflight(config, hardware=hardware_profile("colab-t4"))
    assert "precision.bf16_unsupported" in {p.code for p in report.problems}
    assert report.ok is False


@pytest.mark.slow
def test_selfcheck_measures_each_case_beside_its_estimate(
    tiny_causal: Path, tmp_path: Path
) -> None:
    """`python -m modelforge_nb.selfcheck` on this CPU: a real two-step run, its peak beside
    the estimate, written as a calibration row; on GPUs it plans the four GPU cases."""
    from modelforge_nb import selfcheck
    from modelforge_nb.hardware import hardware_profile

    out = tmp_path / "report.json"
    # run as a user runs it: its own process (a worker's peak RSS on Linux starts from its
    # parent's at the fork, and this test process is large)
    command = [sys.executable, "-m", "modelforge_nb.selfcheck", "--model", str(tiny_causal)]
    done = subprocess.run(
        [*command, "--length", "64", "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "lora-fp32: measured" in done.stdout
    (row,) = json.loads(out.read_text())
    assert row["case"] == "lora-fp32" and row["status"] == "completed"
    assert row["measured"] == "peak_rss" and row["measured_peak_bytes"] > 100e6
    assert row["source"] == "python -m modelforge_nb.selfcheck"
    ratio = row["estimate_bytes"] / row["measured_peak_bytes"]
    assert row["estimate_over_measured"] == round(ratio, 3) and 0.5 < ratio < 2, row
    assert row["step_seconds"] > 0
    t4 = [name for name, _ in selfcheck.cases(hardware_profile("colab-t4"))]
    assert t4 == ["lora-fp16", "qlora-nf4", "lora-adamw-8bit"]
    h100 = [name for name, _ in selfcheck.cases(hardware_profile("h100-80gb"))]
    assert h100[0] == "lora-bf16" and len(h100) == 4


@pytest.mark.slow
def test_the_probe_measures_its_worker_not_the_kernel_that_started_it(
    tiny_causal: Path, tmp_path: Path
) -> None:
    """A notebook kernel holding gigabytes starts the probe's worker: the peak reported is
    the worker's own (Linux carries a parent's resident size into ru_maxrss)."""
    from modelforge_nb.selfcheck import full_length_rows
    from modelforge_nb.tuner.probe import run_probe

    held = bytearray(3 * 10**9)
    held[::4096] = b"\x01" * len(held[::4096])  # resident, page by page
    config = FinetuneConfig(
        model=str(tiny_causal),
        dataset=str(full_length_rows(tmp_path, 64)),
        training={"batch_size": 2, "max_seq_length": 64},
    )
    measured = run_probe(config)
    assert measured["probe_status"] == "completed", measured
    assert 0.1e9 < measured["probe_peak_bytes"] < 1.5e9, measured
    del held


def test_grpo_preflight_counts_the_generation_cache_and_the_sampled_tokens() -> None:
    """GRPO samples batch_size x grad_accum completions per pass: their key/value cache is a
    term of its own, and longer completions cost memory and time."""
    from modelforge_nb.hardware import hardware_profile
    from modelforge_nb.plan.catalog import catalog_entry

    entry = catalog_entry("meta-llama/Llama-3.1-8B-Instruct")
    assert entry is not None
    shape = model_shape(dict(entry["config"]), "text-generation")
    gpu = hardware_profile("h100-80gb")

    def grpo(completion: int) -> Estimate:
        config = FinetuneConfig(
            model="m",
            dataset="d.jsonl",
            method="grpo",
            grpo={"rewards": ["exact_match"], "max_completion_length": completion},
            training={"max_seq_length": 256, "batch_size": 4, "grad_accum": 2},
        )
        return estimate_run(config, shape, gpu)

    short, long = grpo(64), grpo(1024)
    sft = estimate_run(
        FinetuneConfig(
            model="m",
            dataset="d.jsonl",
            training={"max_seq_length": 256, "batch_size": 4, "grad_accum": 2},
        ),
        shape,
        gpu,
    )
    assert "generation" not in sft.terms() and sft.generation_bytes == 0
    assert short.terms()["generation"] == short.generation_bytes
    assert long.generation_bytes > 3 * short.generation_bytes
    assert long.activations_bytes > short.activations_bytes and long.peak_bytes > short.peak_bytes
    assert long.tokens_per_step > short.tokens_per_step > sft.tokens_per_step


def test_grpo_generation_cache_is_the_cache_the_model_really_keeps(tiny_causal: Path) -> None:
    """The generation term against the key/value cache a real forward pass keeps, for the
    tiny Llama with grouped-query attention (2 key/value heads for 4 query heads): one
    pass's batch_size x grad_accum completions, each prompt + completion long."""
    from transformers import AutoModelForCausalLM

    config = FinetuneConfig(
        model=str(tiny_causal),
        dataset="d.jsonl",
        method="grpo",
        grpo={"rewards": ["exact_match"], "max_completion_length": 8, "num_generations": 2},
        training={"max_seq_length": 24, "batch_size": 2, "grad_accum": 2, "precision": "fp32"},
    )
    shape = model_shape(read_model_config(str(tiny_causal)), "text-generation")
    estimate = estimate_run(config, shape, _cpu_machine())
    model = AutoModelForCausalLM.from_pretrained(tiny_causal, dtype=torch.float32)
    prompts = torch.randint(0, model.config.vocab_size, (2 * 2, 24 + 8))
    with torch.no_grad():
        cache = model(input_ids=prompts, use_cache=True).past_key_values
    kept = sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers)
    assert estimate.generation_bytes == kept
    assert model.config.num_key_value_heads < model.config.num_attention_heads
    # sized by hidden_size per token and layer (keys and values, fp32, 4 sequences of 32
    # tokens), the term was twice what this model keeps
    by_hidden_size = 2 * shape.num_layers * shape.hidden_size * 4 * (2 * 2) * (24 + 8)
    assert by_hidden_size == 2 * kept
