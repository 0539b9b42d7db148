"""The rules of ``FinetuneConfig`` that involve several fields, checked once every field is
parsed and its defaults applied; every broken rule is reported at once, each naming its field.
"""

from __future__ import annotations

from modelforge_nb.config.precision import dtype_name
from modelforge_nb.config.schema import FinetuneFields, QuantizationSettings
from modelforge_nb.config.tasks import TASKS


class CrossFieldError(ValueError):
    """Every broken cross-field rule at once, each as (field, message, hint).

    pydantic keeps the raised exception in the error's context, so ``ConfigError`` can
    name each field instead of pointing at the config as a whole.
    """

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"{field}: {message} {hint}" for field, message, hint in problems)
        )


def _data_format_problems(config: FinetuneFields) -> list[tuple[str, str, str]]:
    """``dataset_format`` names a format of the task and method; ``columns`` maps columns
    that one of them has."""
    formats = TASKS[config.task].formats_for(config.method)
    names = list(dict.fromkeys(f.name for f in formats))
    problems = []
    if config.dataset_format != "auto" and config.dataset_format not in names:
        problems.append(
            (
                "dataset_format",
                f"{config.dataset_format!r} is not a format of {config.task} with {config.method}.",
                f"Use auto or one of: {', '.join(names)}.",
            )
        )
    wanted = [f for f in formats if config.dataset_format in ("auto", f.name)]
    known = list(dict.fromkeys(c for f in wanted for c in (*f.columns, *f.optional)))
    for target, source in config.columns.items():
        if target not in known:
            problems.append(
                (
                    f"columns.{target}",
                    f"maps {target!r}, a column no {config.task} {config.method} format has.",
                    f"Map one of: {', '.join(known)}.",
                )
            )
        elif not source.strip():
            problems.append(
                (f"columns.{target}", "is blank.", "Give the name of a column of your data.")
            )
    return problems


def _distributed_problems(config: FinetuneFields) -> list[tuple[str, str, str]]:
    spread = config.distributed
    problems = []
    if spread.machine_rank >= spread.num_machines:
        problems.append(
            (
                "distributed.machine_rank",
                f"is {spread.machine_rank}, but there are {spread.num_machines} machine(s).",
                f"Use 0 to {spread.num_machines - 1}.",
            )
        )
    if spread.num_machines > 1 and not spread.main_process_ip:
        problems.append(
            (
                "distributed.main_process_ip",
                f"is needed with {spread.num_machines} machines.",
                "Give the address of machine 0 (Slurm and SkyPilot jobs set it for you).",
            )
        )
    if spread.num_processes % spread.num_machines:
        problems.append(
            (
                "distributed.num_processes",
                f"{spread.num_processes} does not divide over {spread.num_machines} machines.",
                "Give a multiple of num_machines (the same number of GPUs on each).",
            )
        )
    if spread.strategy in {"fsdp", "deepspeed-zero3"} and config.adapter == "qlora":
        problems.append(
            (
                "distributed.strategy",
                f"{spread.strategy} cannot shard the 4/8-bit base QLoRA loads (its "
                "weights are not stored in a floating-point type).",
                "Use ddp or deepspeed-zero2 with qlora, or adapter: lora to shard the weights.",
            )
        )
    return problems


def _grpo_problems(config: FinetuneFields) -> list[tuple[str, str, str]]:
    """trl's GRPO samples whole groups: the completions one generation pass makes
    (batch_size x grad_accum x processes) must hold whole groups of num_generations; an
    eval batch too."""
    if config.method != "grpo":
        return []
    training, grpo = config.training, config.grpo
    processes = config.distributed.num_processes
    batch = training.batch_size * training.grad_accum * processes
    problems = []
    if batch % grpo.num_generations:
        problems.append(
            (
                "grpo.num_generations",
                f"{grpo.num_generations} does not divide the {batch} completions of one pass "
                f"(training.batch_size {training.batch_size} x grad_accum {training.grad_accum}"
                f" x {processes} process(es)).",
                "Make batch_size x grad_accum a multiple of num_generations, e.g. batch_size: "
                f"{grpo.num_generations}.",
            )
        )
    has_eval = config.eval_dataset is not None or config.eval_fraction is not None
    if has_eval and (training.batch_size * processes) % grpo.num_generations:
        problems.append(
            (
                "training.batch_size",
                f"{training.batch_size} x {processes} process(es) is not a multiple of "
                f"grpo.num_generations ({grpo.num_generations}), which evaluation needs.",
                f"Use a multiple of {grpo.num_generations}, or no eval data.",
            )
        )
    return problems


def cross_field_problems(config: FinetuneFields) -> list[tuple[str, str, str]]:
    """Rules that involve several fields, checked after all of them are parsed."""
    task = TASKS[config.task]
    training = config.training
    problems: list[tuple[str, str, str]] = []
    if config.method not in task.methods:
        problems.append(
            (
                "method",
                f"{config.method!r} does not apply to task {config.task!r}.",
                f"Use one of: {', '.join(task.methods)}.",
            )
        )
    problems += _data_format_problems(config)
    if config.adapter != "qlora" and config.quantization is not None:
        problems.append(
            (
                "quantization",
                f"applies only to adapter 'qlora' (adapter is {config.adapter!r}).",
                "Remove the quantization section or set adapter: qlora.",
            )
        )
    if config.eval_dataset is not None and config.eval_fraction is not None:
        problems.append(
            (
                "eval_fraction",
                f"is {config.eval_fraction} while eval_dataset is also given.",
                "Give eval_dataset or eval_fraction, not both.",
            )
        )
    if config.eval_split is not None and config.eval_dataset is None:
        problems.append(
            (
                "eval_split",
                f"is {config.eval_split!r} but there is no eval_dataset.",
                "Give eval_dataset (it may be the training dataset), or remove eval_split.",
            )
        )
    has_eval = config.eval_dataset is not None or config.eval_fraction is not None
    if training.eval_steps is not None and not has_eval:
        problems.append(
            (
                "training.eval_steps",
                f"is {training.eval_steps} but there is no eval data.",
                "Set eval_dataset or eval_fraction, or remove eval_steps.",
            )
        )
    if training.max_steps is not None and training.logging_steps > training.max_steps:
        problems.append(
            (
                "training.logging_steps",
                f"{training.logging_steps} is more than max_steps ({training.max_steps}).",
                "Lower it, or nothing would be logged.",
            )
        )
    if training.packing and (config.method != "sft" or task.kind != "causal"):
        problems.append(
            (
                "training.packing",
                f"does not apply to {config.method} on {config.task}.",
                "Set it to false.",
            )
        )
    if config.allow_no_answer and task.kind != "span":
        problems.append(
            (
                "allow_no_answer",
                f"applies to extractive-question-answering, not {config.task}.",
                "Remove it.",
            )
        )
    if training.loss_on != "answers" and (config.method != "sft" or task.kind != "causal"):
        problems.append(
            (
                "training.loss_on",
                f"applies to sft on text-generation, not {config.method} on {config.task}.",
                "Set it to answers.",
            )
        )
    problems += _distributed_problems(config)
    problems += _grpo_problems(config)
    quant = config.quantization
    if quant is not None and quant.compute_dtype != "auto" and training.precision != "auto":
        wanted = dtype_name(training.precision)
        if quant.compute_dtype != wanted:
            problems.append(
                (
                    "quantization.compute_dtype",
                    f"{quant.compute_dtype!r} contradicts training.precision "
                    f"{training.precision!r}.",
                    f"Use {wanted!r} or auto.",
                )
            )
    return problems


def check_cross_fields(config: FinetuneFields) -> None:
    """Fill the defaults that depend on other fields (QLoRA's quantization section), then
    raise ``CrossFieldError`` listing every broken rule."""
    if config.adapter == "qlora" and config.quantization is None:
        config.quantization = QuantizationSettings()
    problems = cross_field_problems(config)
    if problems:
        raise CrossFieldError(problems)
