"""``FinetuneConfig``: the one schema every entry point builds.

Each field carries its help text and bounds (the form shows the description as help),
cross-field rules run once every field is parsed and defaults are applied
(``model_validator(mode="after")``), and local paths become absolute when the config is
built, so the worker sees the same files whatever its own working directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from modelforge_nb.config.io import config_error, problems_from_validation, too_deep
from modelforge_nb.config.tasks import DATA_FORMAT_NAMES, TASK_NAMES, TASKS

RUN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: THE data file formats the readers take (``data/readers.py`` reads each of them).
DATA_FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
# Names that are paths even before the file exists: the formats above, and data files the
# readers will refuse with a clear error rather than look up on the Hub.
_PATH_SUFFIXES = (*DATA_FILE_SUFFIXES, ".txt", ".arrow")
#: The most steps any step count may name: far beyond any real run, and within SQLite's
#: and torch's integers.
MAX_STEPS = 10**9
#: Longest file or folder name the common filesystems allow, in bytes.
_NAME_MAX = 255


class _Schema(BaseModel):
    """Every config model: unknown fields, NaN and infinity refused; building one by hand
    (``FinetuneConfig(model=..., lora={...})``) raises the same ``ConfigError`` as
    ``from_dict`` and ``from_yaml``."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise config_error(problems_from_validation(error, type(self))) from None
        except RecursionError:
            raise too_deep() from None

    # Marked as pydantic's own __init__, so validation (model_validate, a section inside a
    # config) never routes through it: only a direct call is translated.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


class Section(_Schema):
    pass


class LoraSettings(Section):
    """LoRA adapter shape (also used by QLoRA)."""

    r: int = Field(16, ge=1, le=1024, description="LoRA rank: the adapter's inner size.")
    alpha: float = Field(
        32,
        gt=0,
        le=100_000,
        description="LoRA alpha: scales the adapter's update by alpha / r. A positive number, "
        "at most 100000.",
    )
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the adapter's input.")
    target_modules: Literal["all-linear"] | list[str] = Field(
        "all-linear",
        description='Modules that get an adapter: "all-linear" or a list of module names.',
    )
    use_dora: bool = Field(False, description="Weight-decomposed LoRA (DoRA).")

    @field_validator("target_modules")
    @classmethod
    def _non_empty_modules(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and (not value or any(not m.strip() for m in value)):
            raise ValueError('has an empty module name; give at least one name, or "all-linear"')
        return value


class QuantizationSettings(Section):
    """How the base model is quantized for QLoRA (bitsandbytes, CUDA only)."""

    bits: Literal[4, 8] = Field(4, description="Bits per base weight.")
    quant_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit data type.")
    double_quant: bool = Field(True, description="Quantize the quantization constants too.")
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Data type of the matrix products; auto follows precision."
    )


class TrainingSettings(Section):
    """The training loop's hyperparameters."""

    epochs: float = Field(3, gt=0, le=1000, description="Passes over the training data.")
    max_steps: int | None = Field(
        None,
        ge=1,
        le=MAX_STEPS,
        description="Stop after this many optimizer steps (overrides epochs).",
    )
    batch_size: int = Field(4, ge=1, le=4096, description="Examples per device per step.")
    grad_accum: int = Field(
        4, ge=1, le=1024, description="Steps whose gradients add up before one update."
    )
    learning_rate: float = Field(2e-4, gt=0, le=1, description="Peak learning rate.")
    scheduler: Literal[
        "linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts"
    ] = Field("cosine", description="Learning-rate schedule.")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW weight decay.")
    max_seq_length: int | Literal["auto"] = Field(
        "auto",
        description='Longest sequence in tokens; "auto" takes the longest example, capped at 2048.',
    )
    packing: bool = Field(False, description="Pack short examples into full-length sequences.")
    loss_on: Literal["answers", "all"] = Field(
        "answers",
        description="answers: learn the completions and assistant turns only (each turn with "
        "the conversation before it); all: every token, prompts included.",
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory, slower."
    )
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="auto: bf16 where the GPU has it, fp16 on older GPUs, fp32 on CPU."
    )
    optimizer: Literal[
        "adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit", "adafactor", "sgd"
    ] = Field("adamw_torch", description="Optimizer (the 8-bit ones need bitsandbytes on CUDA).")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Random seed for data order and init.")
    logging_steps: int = Field(
        1, ge=1, le=MAX_STEPS, description="Log loss and learning rate every N steps."
    )
    eval_steps: int | None = Field(
        None,
        ge=1,
        le=MAX_STEPS,
        description="Evaluate every N steps (needs eval data); none: every epoch.",
    )
    save_steps: int = Field(100, ge=1, le=MAX_STEPS, description="Save a checkpoint every N steps.")
    save_total_limit: int = Field(2, ge=1, le=100, description="Checkpoints kept on disk.")

    @field_validator("max_seq_length")
    @classmethod
    def _sequence_bounds(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 8 <= value <= 131072:
            raise ValueError("is out of range; use a number of tokens from 8 to 131072, or auto")
        return value


class DpoSettings(Section):
    """Direct preference optimisation (method: dpo)."""

    beta: float = Field(0.1, gt=0, le=10, description="How far the policy may move from the base.")
    loss_type: Literal["sigmoid", "hinge", "ipo", "robust", "apo_zero", "apo_down"] = Field(
        "sigmoid", description="DPO loss variant."
    )


class OrpoSettings(Section):
    """Odds-ratio preference optimisation (method: orpo): SFT and preference in one loss,
    no reference model."""

    beta: float = Field(
        0.1, gt=0, le=10, description="Weight of the odds-ratio term (lambda in the paper)."
    )


class KtoSettings(Section):
    """Kahneman-Tversky optimisation (method: kto): answers marked good or bad, unpaired."""

    beta: float = Field(0.1, gt=0, le=10, description="How far the policy may move from the base.")
    desirable_weight: float = Field(
        1.0, gt=0, le=100, description="Weight of the loss on answers labelled true."
    )
    undesirable_weight: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Weight of the loss on answers labelled false; raise it when bad answers "
        "are rarer than good ones.",
    )


class GrpoSettings(Section):
    """Group relative policy optimisation (method: grpo): sample completions per prompt and
    learn from the rewards your functions give them."""

    rewards: list[str] = Field(
        default_factory=list,
        description="Reward functions by name: functions passed as finetune(..., "
        "rewards=[...]) or defined in the notebook, or the built-ins exact_match[:COLUMN], "
        "regex:PATTERN and length[:CHARACTERS] (docs/methods.md).",
    )
    num_generations: int = Field(
        4,
        ge=2,
        le=256,
        description="Completions sampled per prompt; each reward is compared within its group.",
    )
    max_completion_length: int = Field(
        64, ge=1, le=32768, description="Longest sampled completion in tokens."
    )
    temperature: float = Field(1.0, gt=0, le=5, description="Sampling temperature.")
    beta: float = Field(
        0.0,
        ge=0,
        le=10,
        description="KL penalty towards the base model; 0 (trl's default) needs no reference "
        "model in memory.",
    )

    @field_validator("rewards")
    @classmethod
    def _reward_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.partition(":")[0].isidentifier():
                raise ValueError(
                    f"has {name!r}, which is not a Python name (or a built-in's NAME:ARGUMENT); "
                    "name a function"
                )
        if len(set(value)) != len(value):
            raise ValueError("names a function twice; list each reward once")
        return value


class GenerationSettings(Section):
    """Defaults for the chat playground."""

    max_new_tokens: int = Field(128, ge=1, le=8192, description="Longest answer in tokens.")
    temperature: float = Field(0.7, ge=0, le=5, description="0 is greedy decoding.")
    top_p: float = Field(0.9, gt=0, le=1, description="Nucleus sampling mass.")
    top_k: int = Field(50, ge=0, le=1000, description="Sample among the k likeliest; 0: all.")
    repetition_penalty: float = Field(1.1, gt=0, le=5, description="Above 1 discourages repeats.")


#: How several processes share the work (accelerate's engines, docs/scale-out.md).
STRATEGIES = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")


class DistributedSettings(Section):
    """Several processes (GPUs, machines) through accelerate."""

    num_processes: int = Field(
        1,
        ge=1,
        le=4096,
        description="Processes in all (one per GPU, across every machine); 1 runs the worker "
        "without a launcher.",
    )
    strategy: Literal["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"] = Field(
        "ddp",
        description="ddp: a whole copy per GPU; fsdp: weights, gradients and optimizer sharded "
        "(full shard); deepspeed-zero2: gradients and optimizer sharded; deepspeed-zero3: "
        "everything sharded.",
    )
    num_machines: int = Field(1, ge=1, le=512, description="Machines (nodes) taking part.")
    machine_rank: int = Field(
        0, ge=0, le=511, description="This machine's number, from 0; set per machine."
    )
    main_process_ip: str | None = Field(
        None, description="Address of machine 0, which the others reach (several machines)."
    )
    main_process_port: int = Field(
        29500, ge=1, le=65535, description="Port on machine 0 for the rendezvous."
    )


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~")) or value.lower().endswith(_PATH_SUFFIXES)


def _resolve(value: str, base: Path, *, always: bool) -> str:
    """An absolute path for a local reference; Hub ids and embedded ids stay as they are."""
    if value.startswith("modelforge:") or "://" in value:
        return value
    longest = max(value.split("/"), key=lambda part: len(part.encode("utf-8", "replace")))
    size = len(longest.encode("utf-8", "replace"))
    if size > _NAME_MAX:
        raise ValueError(
            f"has a name of {size} bytes ({longest[:20]}...); file and folder names are at "
            f"most {_NAME_MAX} bytes, so shorten it"
        )
    if "\x00" in value:
        raise ValueError("contains a NUL character; remove it")
    try:
        candidate = Path(value).expanduser()
    except RuntimeError:  # "~name" for a user this machine does not have
        user = value.split("/", 1)[0]
        raise ValueError(
            f"starts with {user!r}, but this machine has no user {user[1:]!r}; write the full path"
        ) from None
    if not candidate.is_absolute():
        candidate = base / candidate
    try:
        if always or candidate.exists() or _looks_like_path(value):
            return str(candidate.resolve())
    except OSError as error:  # a path this system cannot look at (too long, a loop)
        raise ValueError(f"cannot be looked up ({error.strerror}); check the path") from None
    return value


def _folder_problem(folder: str) -> str | None:
    """Why ``folder`` cannot hold run folders: it, or a folder above it, is a file."""
    for part in (Path(folder), *Path(folder).parents):
        if part.exists():
            if part.is_dir():
                return None
            which = "is a file" if part == Path(folder) else f"is under {part}, which is a file"
            return f"{which}, not a folder; give a folder for the run outputs"
    return None


class FinetuneConfig(_Schema):
    """Everything a fine-tuning run needs, validated once."""

    task: str = Field(
        "text-generation",
        description=f"What the model learns to do: one of {', '.join(TASK_NAMES)}.",
        json_schema_extra={"enum": list(TASK_NAMES)},
    )
    model: str = Field(
        ...,
        min_length=1,
        description="Base model: a Hub id, a local folder, or modelforge:smollm2-135m-instruct.",
    )
    dataset: str = Field(
        ...,
        min_length=1,
        description="Training data: a JSONL/JSON/CSV/Parquet file, a folder, or a Hub id.",
    )
    dataset_split: str = Field(
        "train",
        min_length=1,
        description="The split to train on, for a Hub dataset or a saved DatasetDict folder.",
    )
    dataset_subset: str | None = Field(
        None,
        description="A Hub dataset's configuration (subset), e.g. 3.0.0 for abisee/cnn_dailymail.",
    )
    eval_split: str | None = Field(
        None,
        description="The split of eval_dataset; empty: validation when eval_dataset is the "
        "training dataset, else train.",
    )
    allow_no_answer: bool = Field(
        False,
        description="Extractive QA: train unanswerable questions (SQuAD v2's empty answers) "
        'as "no answer" instead of refusing them.',
    )
    dataset_format: str = Field(
        "auto",
        json_schema_extra={"enum": ["auto", *DATA_FORMAT_NAMES]},
        description="The data's format: auto (recognised by its columns) or a format's name, "
        "e.g. alpaca, sharegpt, prompt-completion, messages, text (docs/datasets.md).",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Your data's column for each column the format expects, e.g. "
        "{prompt: question, completion: answer}.",
    )
    tags: dict[Literal["role", "content", "user", "assistant", "system"], str] = Field(
        default_factory=dict,
        description="For conversations written with other keys or speaker names: the key of "
        "each turn's speaker (role) and text (content), and the names used for user, "
        "assistant and system, e.g. {role: speaker, content: text, user: customer, "
        "assistant: agent}.",
    )
    eval_dataset: str | None = Field(
        None, description="Evaluation data in the same format (or use eval_fraction)."
    )
    eval_fraction: float | None = Field(
        None, gt=0, le=0.5, description="Hold out this share of the training data for evaluation."
    )
    run_name: str | None = Field(
        None,
        pattern=RUN_NAME_PATTERN,
        description="A name for the run: letters, digits, '.', '_' and '-'; made up if empty.",
    )
    output_root: str | None = Field(
        None,
        description="Folder for run outputs; empty: MODELFORGE_HOME, else modelforge-runs in "
        "/content (Colab) or /kaggle/working (Kaggle), else the user data folder.",
    )
    method: Literal["sft", "dpo", "orpo", "kto", "grpo"] = Field(
        "sft",
        description="sft: supervised fine-tuning; dpo and orpo: preference pairs; kto: answers "
        "labelled good or bad; grpo: prompts and reward functions.",
    )
    adapter: Literal["lora", "qlora", "full"] = Field(
        "lora",
        description="lora: small adapter; qlora: adapter on a 4/8-bit base; full: all weights.",
    )
    lora: LoraSettings = Field(default_factory=LoraSettings)
    quantization: QuantizationSettings | None = Field(
        None, description="QLoRA quantization; filled with defaults when adapter is qlora."
    )
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    dpo: DpoSettings = Field(default_factory=DpoSettings)
    orpo: OrpoSettings = Field(default_factory=OrpoSettings)
    kto: KtoSettings = Field(default_factory=KtoSettings)
    grpo: GrpoSettings = Field(default_factory=GrpoSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    distributed: DistributedSettings = Field(default_factory=DistributedSettings)
    report_to: Literal["none", "tensorboard", "wandb"] = Field(
        "none", description="Experiment tracker; none keeps every login prompt away."
    )
    trust_remote_code: bool = Field(
        False, description="Run Python code that ships with the model. Only for models you trust."
    )

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        if value not in TASKS:
            raise ValueError(f"is not a known task; use one of: {', '.join(TASK_NAMES)}")
        return value

    @field_validator("model", "dataset", "eval_dataset", "output_root")
    @classmethod
    def _absolute_paths(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("is blank; give a Hub id, a folder or a file")
        context = info.context if isinstance(info.context, dict) else {}
        base = Path(context.get("base_dir") or Path.cwd())
        resolved = _resolve(value, base, always=info.field_name == "output_root")
        if info.field_name == "output_root":
            problem = _folder_problem(resolved)
            if problem:
                raise ValueError(problem)
        return resolved

    @model_validator(mode="after")
    def _cross_field_rules(self) -> FinetuneConfig:
        if self.adapter == "qlora" and self.quantization is None:
            self.quantization = QuantizationSettings()
        problems = cross_field_problems(self)
        if problems:
            raise CrossFieldError(problems)
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict that rebuilds the same config."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | Path | None = None) -> FinetuneConfig:
        """Build from a dict; bad input raises ``ConfigError`` listing every bad field."""
        from modelforge_nb.config.io import config_from_dict

        return config_from_dict(cls, data, base_dir=base_dir)

    @classmethod
    def from_yaml(cls, text: str, *, base_dir: str | Path | None = None) -> FinetuneConfig:
        """Build from YAML (or JSON) text; errors name the field or the line."""
        from modelforge_nb.config.io import config_from_yaml

        return config_from_yaml(cls, text, base_dir=base_dir)

    @classmethod
    def from_file(cls, path: str | Path) -> FinetuneConfig:
        """Build from a YAML or JSON file; relative paths resolve against its folder."""
        from modelforge_nb.config.io import config_from_file

        return config_from_file(cls, path)


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


def _data_format_problems(config: FinetuneConfig) -> list[tuple[str, str, str]]:
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


def _distributed_problems(config: FinetuneConfig) -> list[tuple[str, str, str]]:
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


def _grpo_problems(config: FinetuneConfig) -> list[tuple[str, str, str]]:
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


def cross_field_problems(config: FinetuneConfig) -> list[tuple[str, str, str]]:
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
        wanted = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}[training.precision]
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


def is_valid_run_name(name: str) -> bool:
    """Whether ``name`` is safe as a run name (and so as a folder name)."""
    return re.fullmatch(RUN_NAME_PATTERN, name) is not None


def config_schema() -> dict[str, Any]:
    """The JSON schema of ``FinetuneConfig``, for the form, REST and the docs."""
    return FinetuneConfig.model_json_schema()


def resolve_ref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A schema node with its ``$ref`` (direct, or inside a nullable ``anyOf``) followed into
    ``$defs``; any other node as it is. The form and the reference both read the schema so."""
    ref = node.get("$ref") or next((o["$ref"] for o in node.get("anyOf", []) if "$ref" in o), None)
    if not ref:
        return node
    resolved: dict[str, Any] = schema["$defs"][ref.rsplit("/", 1)[-1]]
    return resolved
