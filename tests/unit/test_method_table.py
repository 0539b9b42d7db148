"""The method table (``config/methods.py``) is the one list of methods: the config's choices
and sections, the tasks' formats, the recipes, the estimator and the default learning rates
all follow it, so a method added to the table alone fails here."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import get_args

import pytest

from modelforge_nb.config.methods import METHOD_NAMES, METHODS, default_learning_rate
from modelforge_nb.config.models import FinetuneConfig, MethodSection, QuantizationSettings
from modelforge_nb.config.models import TrainingSettings as Training
from modelforge_nb.config.precision import PRECISION_DTYPES
from modelforge_nb.config.tasks import TASKS
from modelforge_nb.errors import ConfigError
from modelforge_nb.hardware import GpuInfo, HardwareInfo, hardware_profile
from modelforge_nb.plan.catalog import catalog_entry
from modelforge_nb.plan.estimate import estimate_run
from modelforge_nb.plan.shape import model_shape
from modelforge_nb.selfcheck import cases
from modelforge_nb.tuner import builders, recipes
from modelforge_nb.tuner.strategies import accelerate_config

#: A dataset of the right kind for each method (the config checks no file's columns).
_BASE = {"model": "m", "dataset": "d.jsonl"}


def _config(method: str, **fields: object) -> FinetuneConfig:
    extra: dict[str, object] = {"grpo": {"rewards": ["exact_match"]}} if method == "grpo" else {}
    return FinetuneConfig(**_BASE, method=method, **extra, **fields)  # type: ignore[arg-type]


def _method_sections() -> set[str]:
    return {
        name
        for name, field in FinetuneConfig.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, MethodSection)
    }


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_every_method_in_the_table_is_everywhere_a_method_must_be(name: str) -> None:
    method = METHODS[name]
    assert method.name == name
    # the config offers it (the form's dropdown, REST and the docs read the schema's enum)
    schema = FinetuneConfig.model_json_schema()
    assert name in schema["properties"]["method"]["enum"]
    assert f"{name}: {method.summary}" in schema["properties"]["method"]["description"]
    # some task has data formats for it, and the config takes it there
    tasks = [task for task in TASKS.values() if task.formats_for(name)]
    assert tasks, f"no task has data formats for method {name!r} (config/tasks.py)"
    assert _config(name, task=tasks[0].name).method == name
    # the tuner builds its arguments and trains it
    assert callable(getattr(builders, method.arguments, None)), (
        f"tuner/builders.py has no {method.arguments}() for method {name!r}"
    )
    assert recipes._CAUSAL_METHODS[name][:2] == (method.trainer_module, method.trainer_class)
    # its settings section is a field of the config
    if method.section is not None:
        assert method.section in _method_sections(), (
            f"FinetuneConfig has no {method.section!r} section (a MethodSection) for {name!r}"
        )


def test_nothing_names_a_method_the_table_lacks() -> None:
    assert set(recipes._CAUSAL_METHODS) == set(METHODS)
    assert _method_sections() == {m.section for m in METHODS.values() if m.section}
    for task in TASKS.values():
        assert set(task.formats) <= set(METHODS), task.name
        assert task.methods == tuple(m for m in METHOD_NAMES if m in task.formats)
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig(**_BASE, method="ppo")  # type: ignore[arg-type]
    (problem,) = caught.value.problems
    assert problem.field == "method" and "sft, dpo, orpo, kto, grpo" in str(problem)


def test_the_table_names_trl_trainers_and_trl_defaults() -> None:
    """The trainer each method names exists, and the table's full fine-tuning default is the
    one trl sets in the trainer's config."""
    for method in METHODS.values():
        module = importlib.import_module(method.trainer_module)
        assert isinstance(getattr(module, method.trainer_class), type), method.name
        settings = getattr(module, method.trainer_class.replace("Trainer", "Config"))
        default = {f.name: f.default for f in dataclasses.fields(settings)}["learning_rate"]
        assert method.full_learning_rate == default, method.name
        assert method.adapter_learning_rate == pytest.approx(10 * default), method.name


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_an_empty_learning_rate_is_the_methods_default_and_an_explicit_one_stays(
    name: str, tmp_path: Path
) -> None:
    def trained_rate(config: FinetuneConfig) -> float:
        arguments = builders.common_arguments(
            config, tmp_path, precision="fp32", on_gpu=False, has_eval=False
        )
        rate: float = arguments["learning_rate"]
        return rate

    method = METHODS[name]
    for adapter in ("lora", "qlora", "full"):
        unset = _config(name, adapter=adapter)
        assert unset.training.learning_rate is None  # recorded as unset, so a rerun agrees
        expected = method.full_learning_rate if adapter == "full" else method.adapter_learning_rate
        assert trained_rate(unset) == unset.learning_rate == expected
        assert default_learning_rate(name, adapter) == expected
        explicit = _config(name, adapter=adapter, training={"learning_rate": 3e-3})
        assert trained_rate(explicit) == explicit.learning_rate == 3e-3
        again = FinetuneConfig.from_dict(unset.to_dict())
        assert again.training.learning_rate is None and again.learning_rate == expected


def test_sft_with_lora_keeps_its_default_and_trl_sets_the_rest() -> None:
    assert _config("sft").learning_rate == 2e-4
    assert _config("sft", adapter="full").learning_rate == 2e-5
    assert _config("dpo").learning_rate == 1e-5
    assert _config("dpo", adapter="full").learning_rate == 1e-6


def test_the_estimator_counts_two_answers_only_for_methods_that_score_pairs() -> None:
    """DPO and ORPO run the chosen and the rejected answer with gradients; KTO runs one
    answer per row (its mismatched KL answer has no gradients), like SFT."""
    entry = catalog_entry("meta-llama/Llama-3.1-8B-Instruct")
    assert entry is not None
    shape = model_shape(dict(entry["config"]), "text-generation")
    gpu = hardware_profile("h100-80gb")
    training = {"max_seq_length": 256, "batch_size": 4}
    activations = {
        name: estimate_run(_config(name, training=training), shape, gpu).activations_bytes
        for name in ("sft", "dpo", "orpo", "kto")
    }
    assert METHODS["dpo"].pairs and METHODS["orpo"].pairs and not METHODS["kto"].pairs
    assert activations["dpo"] == activations["orpo"] > 1.9 * activations["sft"]
    assert activations["kto"] == activations["sft"]


def test_one_precision_to_dtype_map_for_the_config_the_loaders_and_accelerate() -> None:
    precisions = set(get_args(Training.model_fields["precision"].annotation)) - {"auto"}
    compute = get_args(QuantizationSettings.model_fields["compute_dtype"].annotation)
    assert precisions == set(PRECISION_DTYPES)
    assert set(compute) - {"auto"} == set(PRECISION_DTYPES.values())
    torch = pytest.importorskip("torch")
    assert builders.torch_dtype("bf16") is torch.bfloat16
    assert builders.torch_dtype("float16") is torch.float16
    mixed = {
        precision: accelerate_config(_config("sft"), precision=precision)["mixed_precision"]
        for precision in PRECISION_DTYPES
    }
    assert mixed == {"fp32": "no", "fp16": "fp16", "bf16": "bf16"}
    with pytest.raises(ConfigError, match=r"quantization\.compute_dtype"):
        FinetuneConfig(
            **_BASE,
            adapter="qlora",
            quantization={"compute_dtype": "float16"},
            training={"precision": "bf16"},
        )


def _gpu(index: int, bf16: bool) -> GpuInfo:
    return GpuInfo(
        index=index,
        name="A100" if bf16 else "T4",
        total_bytes=15 * 10**9,
        free_bytes=15 * 10**9,
        compute_capability=(8, 0) if bf16 else (7, 5),
        driver="550",
        bf16=bf16,
    )


def _machine(*gpus: GpuInfo) -> HardwareInfo:
    return HardwareInfo(
        gpus=gpus,
        cpu_count=2,
        ram_total_bytes=13 * 10**9,
        ram_available_bytes=12 * 10**9,
        tier="mid",
        source="test",
    )


def test_selfcheck_runs_bf16_only_where_every_gpu_has_it() -> None:
    def precisions(hardware: HardwareInfo) -> dict[str, str]:
        return {name: fields["training"]["precision"] for name, fields in cases(hardware)}

    both = precisions(_machine(_gpu(0, True), _gpu(1, True)))
    assert both["lora-bf16"] == both["qlora-nf4"] == "bf16"
    mixed = precisions(_machine(_gpu(0, True), _gpu(1, False)))  # the first GPU has it
    assert "lora-bf16" not in mixed
    assert mixed["qlora-nf4"] == mixed["lora-adamw-8bit"] == "fp16"


def test_the_methods_page_says_the_default_learning_rates_the_table_gives() -> None:
    from repo_paths import REPO_ROOT

    from modelforge_nb.config.methods import rate_text

    page = (REPO_ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    for method in METHODS.values():
        row = (
            f"| `{method.name}` | {rate_text(method.adapter_learning_rate)} | "
            f"{rate_text(method.full_learning_rate)} |"
        )
        assert row in page, row
