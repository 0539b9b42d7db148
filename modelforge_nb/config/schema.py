"""The fields of ``FinetuneConfig`` and its sections: each field's type, bounds, default
and help text (the form shows the description as help), and the rules of one field alone.

Rules that involve several fields are ``config/rules.py``; ``config/models.py`` puts the two
together as ``FinetuneConfig``. Local paths become absolute when the config is built, so the
worker sees the same files whatever its own working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from modelforge_nb.config.io import config_error, problems_from_validation, too_deep
from modelforge_nb.config.methods import METHOD_NAMES, METHODS, default_rates_text
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
    learning_rate: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Peak learning rate; empty: the method's default with lora or qlora, "
        f"then with full ({default_rates_text()}).",
    )
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


class MethodSection(Section):
    """The settings of one method (``Method.section`` in the method table names its field)."""


class DpoSettings(MethodSection):
    """Direct preference optimisation (method: dpo)."""

    beta: float = Field(0.1, gt=0, le=10, description="How far the policy may move from the base.")
    loss_type: Literal["sigmoid", "hinge", "ipo", "robust", "apo_zero", "apo_down"] = Field(
        "sigmoid", description="DPO loss variant."
    )


class OrpoSettings(MethodSection):
    """Odds-ratio preference optimisation (method: orpo): SFT and preference in one loss,
    no reference model."""

    beta: float = Field(
        0.1, gt=0, le=10, description="Weight of the odds-ratio term (lambda in the paper)."
    )


class KtoSettings(MethodSection):
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


class GrpoSettings(MethodSection):
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
Strategy = Literal["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


class DistributedSettings(Section):
    """Several processes (GPUs, machines) through accelerate."""

    num_processes: int = Field(
        1,
        ge=1,
        le=4096,
        description="Processes in all (one per GPU, across every machine); 1 runs the worker "
        "without a launcher.",
    )
    strategy: Strategy = Field(
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


class FinetuneFields(_Schema):
    """The fields of ``FinetuneConfig`` (``config/models.py``), each checked on its own."""

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
    method: str = Field(
        "sft",
        description="; ".join(f"{m.name}: {m.summary}" for m in METHODS.values()) + ".",
        json_schema_extra={"enum": list(METHOD_NAMES)},
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

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in METHODS:
            raise ValueError(f"is not a known method; use one of: {', '.join(METHOD_NAMES)}")
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
