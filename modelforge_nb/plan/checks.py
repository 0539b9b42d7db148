"""``preflight(config)``: will this run work here? Yes, no, or yes if you change these.

Reads the model's config and tokenizer (never its weights), the dataset and the machine,
and reports blocking problems and warnings, each with a stable dotted code, the config
field it concerns and what to do, plus the estimate behind the verdict.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.tasks import TASKS
from modelforge_nb.data.checks import check_dataset
from modelforge_nb.errors import ModelError
from modelforge_nb.hardware import HardwareInfo, detect_hardware, free_disk_bytes
from modelforge_nb.plan.catalog import load_catalog
from modelforge_nb.plan.estimate import Estimate, estimate_run, hub_download_bytes
from modelforge_nb.plan.fit import cheaper_settings, memory_budget
from modelforge_nb.plan.report import GB, PreflightIssue, PreflightReport
from modelforge_nb.plan.shape import ModelShape, model_shape, needs_remote_code, read_model_config

_QUANTIZED_OPTIMIZERS = {"adamw_8bit", "paged_adamw_8bit"}


def _examples_for(task: str) -> str:
    names = [e["name"] for e in load_catalog() if e["task"] == task][:3]
    return ", ".join(names)


def _check_model(
    config: FinetuneConfig, report: PreflightReport
) -> tuple[dict[str, Any] | None, ModelShape | None]:
    try:
        model_config = read_model_config(config.model)
    except ModelError as error:
        from modelforge_nb.plan.catalog import catalog_entry

        entry = catalog_entry(config.model) if error.code == "model.unreachable" else None
        if entry is None:
            report.problems.append(PreflightIssue(error.code, error.message, "model", error.hint))
            return None, None
        report.warnings.append(
            PreflightIssue(
                "model.offline",
                f"The Hub is out of reach, so the estimate uses the catalog's copy of "
                f"{config.model}'s config.json.",
                "model",
                "Training downloads the weights: it needs the Hub (or a local folder).",
            )
        )
        model_config = dict(entry["config"])
    task = TASKS[config.task]
    model_type = str(model_config.get("model_type"))
    if needs_remote_code(model_config):
        if not config.trust_remote_code:
            report.problems.append(
                PreflightIssue(
                    "model.remote_code",
                    f"{config.model} ('{model_type}') needs Python code shipped with the model.",
                    "trust_remote_code",
                    "Set trust_remote_code: true only if you trust its authors, or pick another "
                    "model.",
                )
            )
        return model_config, None
    if not task.accepts(model_config):
        report.problems.append(
            PreflightIssue(
                "model.task_mismatch",
                f"{config.model} is a '{model_type}' model, which {task.auto_class} cannot load, "
                f"so it cannot do {task.name}.",
                "model",
                f"Pick a model that can, such as {_examples_for(task.name)}.",
            )
        )
        return model_config, None
    return model_config, model_shape(model_config, config.task)


def _check_quantization(
    config: FinetuneConfig, hardware: HardwareInfo, report: PreflightReport
) -> None:
    wants_bnb = config.adapter == "qlora" or config.training.optimizer in _QUANTIZED_OPTIMIZERS
    if not wants_bnb:
        return
    field_name = "adapter" if config.adapter == "qlora" else "training.optimizer"
    if not hardware.has_cuda:
        what = "QLoRA" if config.adapter == "qlora" else config.training.optimizer
        report.problems.append(
            PreflightIssue(
                "quant.needs_cuda",
                f"{what} needs a CUDA GPU (bitsandbytes), and this machine has none.",
                field_name,
                "Use adapter: lora and optimizer: adamw_torch here, or run on a GPU "
                "(Colab, Kaggle).",
            )
        )
        return
    from modelforge_nb.optional import install_hint, is_installed

    if not is_installed("bitsandbytes"):
        report.problems.append(
            PreflightIssue(
                "extra.missing",
                "bitsandbytes, which QLoRA and the 8-bit optimizers need, is not installed.",
                field_name,
                install_hint("bitsandbytes") + ".",
            )
        )
        return
    try:
        import bitsandbytes  # noqa: F401
    except Exception as error:  # an import that fails for any reason means no 4/8-bit
        report.problems.append(
            PreflightIssue(
                "quant.bitsandbytes",
                f"bitsandbytes does not load ({type(error).__name__}: {error}).",
                field_name,
                "Reinstall it: pip install -U bitsandbytes.",
            )
        )


def _check_precision(
    config: FinetuneConfig, hardware: HardwareInfo, report: PreflightReport
) -> None:
    precision = config.training.precision
    if precision == "bf16" and hardware.has_cuda and not all(g.bf16 for g in hardware.gpus):
        names = ", ".join(g.name for g in hardware.gpus if not g.bf16)
        report.problems.append(
            PreflightIssue(
                "precision.bf16_unsupported",
                f"bf16 was asked for, but {names} has no bf16 support.",
                "training.precision",
                "Use fp16 or auto.",
            )
        )
    if precision == "fp16" and not hardware.has_cuda:
        report.problems.append(
            PreflightIssue(
                "precision.fp16_needs_cuda",
                "fp16 mixed precision needs a CUDA GPU.",
                "training.precision",
                "Use auto (fp32 on the CPU) or bf16.",
            )
        )


def _check_distributed(
    config: FinetuneConfig, hardware: HardwareInfo, report: PreflightReport
) -> None:
    spread = config.distributed
    wanted = spread.num_processes // spread.num_machines  # on this machine
    if spread.num_machines > 1:
        report.problems.append(
            PreflightIssue(
                "distributed.several_machines",
                f"A run on {spread.num_machines} machines is started on each of them, not "
                "from this notebook.",
                "distributed.num_machines",
                "mf.export_job(config, folder) writes the job (launch.sh, Slurm, SkyPilot); "
                "mf.attach(folder) brings the run back.",
            )
        )
    if spread.strategy != "ddp" and spread.num_processes > 1 and not hardware.has_cuda:
        report.problems.append(
            PreflightIssue(
                "distributed.needs_gpus",
                f"{spread.strategy} shards across GPU processes; accelerate runs CPU "
                "processes with DDP only, so this would silently train unsharded.",
                "distributed.strategy",
                "Use strategy: ddp on the CPU, or run on GPUs (mf.export_job makes a job "
                "for a bigger machine).",
            )
        )
    if spread.strategy.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        report.problems.append(
            PreflightIssue(
                "distributed.deepspeed_missing",
                f"{spread.strategy} needs DeepSpeed, which is not installed.",
                "distributed.strategy",
                "pip install deepspeed (on a machine with CUDA), or use strategy: fsdp.",
            )
        )
    if hardware.has_cuda and wanted > len(hardware.gpus):
        report.problems.append(
            PreflightIssue(
                "distributed.too_many",
                f"num_processes is {wanted} per machine but this machine has "
                f"{len(hardware.gpus)} GPU(s).",
                "distributed.num_processes",
                f"Use at most {len(hardware.gpus) * spread.num_machines}.",
            )
        )
    elif not hardware.has_cuda and wanted > hardware.cpu_count:
        report.problems.append(
            PreflightIssue(
                "distributed.too_many",
                f"num_processes is {wanted} but this machine has {hardware.cpu_count} CPU cores.",
                "distributed.num_processes",
                f"Use at most {hardware.cpu_count}.",
            )
        )


def _check_memory(
    config: FinetuneConfig,
    shape: ModelShape,
    hardware: HardwareInfo,
    report: PreflightReport,
    estimate: Estimate,
) -> None:
    budget = memory_budget(hardware)
    if estimate.peak_bytes <= budget:
        return
    memory = "GPU memory" if hardware.has_cuda else "RAM"
    longest = report.dataset.longest_tokens if report.dataset else None
    fixes = cheaper_settings(
        config,
        shape,
        hardware,
        budget,
        sequence_length=estimate.sequence_length,
        longest_tokens=longest,
    )
    hint = (
        ("It would fit with: " + "; or ".join(fixes) + ".")
        if fixes
        else ("Pick a smaller model (see recommend()) or a bigger machine.")
    )
    report.problems.append(
        PreflightIssue(
            "vram.insufficient" if hardware.has_cuda else "ram.insufficient",
            f"The run needs about {estimate.peak_bytes / GB:.1f} GB of {memory}; "
            f"{budget / GB:.1f} GB can be used here.",
            "training.batch_size",
            hint,
        )
    )


def _check_disk(config: FinetuneConfig, report: PreflightReport, estimate: Estimate) -> None:
    from modelforge_nb.environment import runs_root

    folder = runs_root(config.output_root)
    report.disk_folder = folder
    free = free_disk_bytes(folder)
    if estimate.disk_bytes > free:
        report.problems.append(
            PreflightIssue(
                "disk.insufficient",
                f"The run will write about {estimate.disk_bytes / GB:.2f} GB "
                f"({estimate.disk_bytes:,} bytes) under {folder}, but only {free / GB:.2f} GB "
                f"({free:,} bytes) is free there.",
                "output_root",
                "Free some space, lower training.save_total_limit, or choose another output_root.",
            )
        )


def _load_tokenizer(config: FinetuneConfig) -> Any:
    """The tokenizer, when it can be read without a download: local or converted models."""
    from modelforge_nb.embedded import embedded_path, is_embedded, is_prepared

    source: Path | None = None
    if is_embedded(config.model):
        source = embedded_path(config.model) if is_prepared(config.model) else None
    elif Path(config.model).is_dir():
        source = Path(config.model)
    if source is None:
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=config.trust_remote_code)
    except Exception:  # a model folder without a usable tokenizer is reported below
        return None


def _check_tokenizer(config: FinetuneConfig, tokenizer: Any, report: PreflightReport) -> None:
    task = TASKS[config.task]
    if task.kind != "causal":
        return
    if tokenizer is None:
        return
    chat_data = report.dataset is not None and report.dataset.data_format == "messages"
    template = getattr(tokenizer, "chat_template", None)
    if chat_data and not template:
        report.warnings.append(
            PreflightIssue(
                "tokenizer.no_chat_template",
                "The data is chat messages but the tokenizer has no chat template; turns will be "
                "joined with a plain '### Instruction / ### Response' layout.",
                "model",
                "Use an instruct model that has a chat template, or set tokenizer.chat_template.",
            )
        )
    if tokenizer.pad_token is None:
        report.warnings.append(
            PreflightIssue(
                "tokenizer.no_pad_token",
                "The tokenizer has no pad token; the end-of-sequence token will pad.",
                "model",
            )
        )
    if tokenizer.eos_token is None:
        report.problems.append(
            PreflightIssue(
                "tokenizer.no_eos",
                "The tokenizer has no end-of-sequence token, so the model cannot learn to stop.",
                "model",
                "Pick a model whose tokenizer defines eos_token.",
            )
        )
    elif template:
        answer = "MODELFORGE_ANSWER"
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": answer}],
            tokenize=False,
        )
        if tokenizer.eos_token not in rendered.split(answer, 1)[-1]:
            report.problems.append(
                PreflightIssue(
                    "tokenizer.template_drops_eos",
                    f"The chat template never writes the end-of-sequence token "
                    f"{tokenizer.eos_token!r} after an answer, so the fine-tuned model would not "
                    "learn to stop.",
                    "model",
                    "Make an assistant turn end with eos_token, or use another model.",
                )
            )


def _check_gpu_busy(hardware: HardwareInfo, report: PreflightReport) -> None:
    for gpu in hardware.gpus:
        if gpu.processes:
            report.warnings.append(
                PreflightIssue(
                    "gpu.busy",
                    f"GPU {gpu.index} ({gpu.name}) already runs {gpu.processes} process(es), "
                    f"with {gpu.free_gb:.1f} of {gpu.total_gb:.1f} GB free.",
                    None,
                    "Stop the other run first, or the two will compete for memory.",
                )
            )


def preflight(
    config: FinetuneConfig,
    *,
    hardware: HardwareInfo | None = None,
    probe: bool = False,
) -> PreflightReport:
    """Check ``config`` on ``hardware`` (this machine by default) before anything loads.

    With ``probe=True`` (and no blocking problem found), it also trains two real steps on
    the data's longest batch in the worker, and reports the measured peak memory against
    what is free, and an ETA for the whole run.
    """
    machine = hardware or detect_hardware()
    report = PreflightReport(hardware=machine)
    if not machine.has_cuda:
        report.warnings.append(
            PreflightIssue(
                "gpu.none",
                "No CUDA GPU: training runs on the CPU, fine for small models only.",
            )
        )
    if config.trust_remote_code:
        report.warnings.append(
            PreflightIssue(
                "model.trusts_remote_code",
                "trust_remote_code is on: Python code from the model's repository will run.",
                "trust_remote_code",
            )
        )
    _check_quantization(config, machine, report)
    _check_precision(config, machine, report)
    _check_distributed(config, machine, report)
    _check_gpu_busy(machine, report)
    _model_config, shape = _check_model(config, report)
    report.shape = shape
    tokenizer = _load_tokenizer(config) if shape is not None else None
    report.dataset = check_dataset(config, tokenizer=tokenizer)
    for issue in report.dataset.errors:
        report.problems.append(PreflightIssue("dataset.invalid", str(issue), "dataset"))
    if report.dataset.errors_not_shown:
        report.problems.append(
            PreflightIssue(
                "dataset.invalid",
                f"... and {report.dataset.errors_not_shown} more dataset errors.",
                "dataset",
            )
        )
    for issue in report.dataset.warnings:
        report.warnings.append(PreflightIssue(issue.code, str(issue), "dataset"))
    _check_tokenizer(config, tokenizer, report)
    if shape is None:
        return report
    download = hub_download_bytes(config.model)
    if download is None:
        report.warnings.append(
            PreflightIssue(
                "disk.download_unknown",
                "The model's download size could not be read from the Hub; the disk estimate "
                "leaves it out.",
                "model",
            )
        )
    estimate = estimate_run(
        config,
        shape,
        machine,
        longest_tokens=report.dataset.longest_tokens,
        download_bytes=download or 0,
    )
    if report.dataset.errors and report.dataset.longest_tokens is None:
        # the data's lengths decide the sequence length: no verdict built on a guess
        report.warnings.append(
            PreflightIssue(
                "memory.not_estimated",
                "Memory is estimated once the dataset can be read: its lengths decide how "
                "long the training sequences are.",
                "dataset",
            )
        )
    else:
        report.estimate = estimate
        _check_memory(config, shape, machine, report, estimate)
    _check_disk(config, report, estimate)
    if probe and report.ok:
        from modelforge_nb.plan.probe import add_probe

        add_probe(config, report, memory_budget(machine))
    return report


__all__ = ["PreflightIssue", "PreflightReport", "preflight"]
