"""What a run will need: peak memory by named term, disk, and a rough speed.

Each memory term follows what the worker's libraries hold during a training step (stated
beside it), and the constants that cannot be counted are fitted to measured peaks in
``data/calibration.json`` (``tests/unit/test_calibration.py`` holds every row within 15%).
The model's shape comes from its config alone (``shape.py``).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelforge_nb.config.methods import METHODS
from modelforge_nb.config.tasks import TASKS
from modelforge_nb.hardware import resolve_precision
from modelforge_nb.plan.shape import ModelShape, model_shape, read_model_config

if TYPE_CHECKING:
    from modelforge_nb.config.models import FinetuneConfig
    from modelforge_nb.hardware import HardwareInfo

__all__ = [
    "Estimate",
    "ModelShape",
    "estimate_run",
    "loss_kind",
    "model_shape",
    "read_model_config",
    "resolve_precision",
    "sequence_for",
]

GB = 1e9
_OPTIMIZER_BYTES = {  # optimizer state bytes per trainable parameter
    "adamw_torch": 8,
    "adamw_torch_fused": 8,
    "adamw_8bit": 2,
    "paged_adamw_8bit": 2,
    "adafactor": 4,
    "sgd": 0,
}
_PEAK_TFLOPS = {  # dense 16-bit peak, by a substring of the GPU name
    "H200": 989,
    "H100": 989,
    "A100": 312,
    "L40S": 362,
    "L40": 181,
    "A10": 125,
    "L4": 121,
    "4090": 165,
    "3090": 71,
    "V100": 125,
    "T4": 65,
    "P100": 19,
}
_AUTO_SEQUENCE = 512
_LOG_BYTES = 20_000_000
# Elements a decoder layer keeps for backward per token, per unit of its linear layers' in +
# out features. Counted for a Llama layer under 16-bit autocast: both norms' fp32 and 16-bit
# copies, the projections' inputs and outputs, RoPE, SDPA's output, SwiGLU's three
# intermediates and LoRA's dropped-out inputs: 1.74 elements per unit (Llama-3.1-8B).
_SAVED_PER_UNIT = 1.74
# Bits per weight that bitsandbytes adds for its block constants: one fp32 absmax per 64
# weights (0.5 bit), or with double quantization an 8-bit one plus an fp32 per 256 blocks.
_QUANT_CONSTANT_BITS = {True: 8 / 64 + 32 / (64 * 256), False: 32 / 64}
# The full loss (transformers' ForCausalLMLoss, seq2seq and classification heads): the
# 16-bit logits stay alive, then fp32 log-softmax, its incoming and outgoing gradient.
_FULL_LOSS_FP32_COPIES = 3
# trl's fused LM head projects [4096 tokens x 32768 vocabulary] tiles (read from the installed
# trl where it has them). On a GPU its Triton kernel works inside the tile: the tile and the
# head's slice cast to the compute dtype.
_FUSED_TILE_COPIES = 2
_GPU_CONTEXT_BYTES = 500_000_000  # the CUDA context: outside max_memory_allocated, inside the card
_GPU_ALLOCATOR_SLACK = 0.05  # PyTorch's caching allocator: reserved beyond allocated
# CPU terms, fitted to the probe's measured peak RSS over 12 settings: SmolLM2-135M LoRA
# (batch 1-4, 256-1024 tokens, with and without gradient checkpointing) and the tiny test
# model (64-1024 tokens), every row within 2.2%: `python -m bench.calibrate_cpu --fit`
# solves them from data/calibration.json.
_CPU_SAVED_PER_UNIT = 1.68  # fp32 elements kept per token per linear unit (counted on GPU: 1.74)
# The fused head's torch fallback off a GPU makes whole-tile temporaries (fp32 scores,
# exponentials, probabilities, the gradient and its steps: about 9 live at once, counted);
# the fit finds 16, the rest being the allocator's high-water mark.
_CPU_TILE_COPIES = 16.0
# The worker's resident imports, the tokenizer and loading's transient copies.
_CPU_RUNTIME_BYTES = 674_000_000


@dataclass(frozen=True)
class Estimate:
    """Peak memory (GPU, or RAM on a CPU run) and disk for one config on one machine."""

    device: str
    precision: str
    sequence_length: int
    params: int
    trainable_params: int
    weights_bytes: int
    adapter_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    logits_bytes: int
    overhead_bytes: int
    download_bytes: int
    checkpoints_bytes: int
    final_bytes: int
    logs_bytes: int
    tokens_per_second: float | None
    tokens_per_step: int = 0
    loss: str = "full"
    """How the loss is computed: ``fused`` (trl's chunked log-probs), ``full`` or ``none``."""
    strategy: str = "ddp"
    world_size: int = 1
    """Processes the run is spread over; the terms are per process (per GPU)."""
    gathered_bytes: int = 0
    """Sharded strategies (fsdp, deepspeed-zero3): the whole blocks gathered for the layer
    being computed and the next one, prefetched."""
    generation_bytes: int = 0
    """GRPO: the key/value cache of the completions one generation pass samples."""
    sequence_basis: str = ""
    """Where ``sequence_length`` comes from: the data's longest example or max_seq_length,
    and why."""

    @property
    def peak_bytes(self) -> int:
        return self.allocated_bytes + self.overhead_bytes

    @property
    def allocated_bytes(self) -> int:
        """The tensors alone: what ``torch.cuda.max_memory_allocated`` measures on a GPU."""
        return (
            self.weights_bytes
            + self.adapter_bytes
            + self.gradients_bytes
            + self.optimizer_bytes
            + self.activations_bytes
            + self.logits_bytes
            + self.gathered_bytes
            + self.generation_bytes
        )

    @property
    def disk_bytes(self) -> int:
        return self.download_bytes + self.checkpoints_bytes + self.final_bytes + self.logs_bytes

    @property
    def seconds_per_step(self) -> float | None:
        """One optimizer step (batch x accumulation x length tokens) at the estimated speed."""
        if not self.tokens_per_second or not self.tokens_per_step:
            return None
        return self.tokens_per_step / self.tokens_per_second

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["peak_bytes"] = self.peak_bytes
        out["allocated_bytes"] = self.allocated_bytes
        out["disk_bytes"] = self.disk_bytes
        out["seconds_per_step"] = self.seconds_per_step
        return out

    def terms(self) -> dict[str, int]:
        """The peak's terms by name, in bytes."""
        return {
            "weights": self.weights_bytes,
            "adapter": self.adapter_bytes,
            "gradients": self.gradients_bytes,
            "optimizer": self.optimizer_bytes,
            "activations": self.activations_bytes,
            "logits": self.logits_bytes,
            **({"gathered": self.gathered_bytes} if self.gathered_bytes else {}),
            **({"generation": self.generation_bytes} if self.generation_bytes else {}),
            "overhead": self.overhead_bytes,
        }

    def summary(self) -> str:
        memory = "VRAM" if self.device == "cuda" else "RAM"
        if self.world_size > 1:
            memory += f" per process ({self.strategy} over {self.world_size})"
        parts = ", ".join(f"{name} {value / GB:.2f}" for name, value in self.terms().items())
        text = (
            f"peak {memory} about {self.peak_bytes / GB:.2f} GB ({parts}); "
            f"sequences of {self.sequence_length} tokens"
            + (f" ({self.sequence_basis})" if self.sequence_basis else "")
            + "; "
            f"disk about {self.disk_bytes / GB:.2f} GB; "
            f"{self.trainable_params:,} of {self.params:,} parameters trained"
        )
        if self.tokens_per_second:
            text += f"; roughly {self.tokens_per_second:,.0f} tokens/s"
            if self.seconds_per_step:
                text += f", {self.seconds_per_step:,.1f} s per optimizer step"
        return f"{text}. {self.how_sure}"

    @property
    def how_sure(self) -> str:
        """How far the estimate can be trusted, from its calibration data."""
        if self.device == "cpu":
            memory = "memory within 15% of the CPU probe grid"
        else:
            memory = (
                "the GPU terms are counted, and come out within 15%, slightly under, of "
                "published QLoRA peaks; other GPU settings are not measured yet"
            )
        if self.generation_bytes:
            memory += "; GRPO's generation cache is counted, not yet measured"
        return (
            f"How sure: {memory} (plan/data/calibration.json, make bench); speed is a rough "
            "guide; preflight(config, probe=True) measures this run."
        )


@lru_cache(maxsize=1)
def _trl_fused_tile() -> tuple[int, int] | None:
    """(tokens, vocabulary) of one tile of the installed trl's fused LM head, or None.

    Read from trl's source rather than imported: importing trl takes seconds.
    """
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    try:
        utils = (root / "trainer" / "utils.py").read_text(encoding="utf-8")
        kernel = (root / "kernels" / "chunked_logprob.py").read_text(encoding="utf-8")
    except OSError:
        return None
    vocab = re.search(r"^_CHUNKED_LOGPROB_CHUNK_SIZE = (\d+)", utils, re.MULTILINE)
    tokens = re.search(r"^TOKEN_CHUNK_SIZE = (\d+)", kernel, re.MULTILINE)
    if "def add_fused_lm_head" not in utils or vocab is None or tokens is None:
        return None
    return int(tokens.group(1)), int(vocab.group(1))


def loss_kind(config: FinetuneConfig) -> str:
    """How the worker's trainer computes the loss, which decides the logits term.

    ``fused``: trl's SFT and DPO trainers score tokens through a fused LM head, tile by tile,
    without the full logits; ``full``: the model's own loss over all logits; ``none``: a span
    head with no vocabulary-sized output.
    """
    kind = TASKS[config.task].kind
    if kind == "span":
        return "none"
    if kind == "causal" and _trl_fused_tile() is not None:
        return "fused"
    return "full"


def _tokens_per_second(hardware: HardwareInfo, shape: ModelShape, trains_all: bool) -> float | None:
    flops_per_token = (6 if trains_all else 4) * max(shape.params, 1)
    if hardware.has_cuda:
        name = hardware.gpus[0].name
        peak = next((v for k, v in _PEAK_TFLOPS.items() if k in name), None)
        if peak is None:
            return None
        return peak * 1e12 * 0.3 * len(hardware.gpus) / flops_per_token
    return hardware.cpu_count * 15e9 / flops_per_token


def sequence_for(config: FinetuneConfig, longest_tokens: int | None) -> tuple[int, str]:
    """The longest sequence a training batch will hold, and where that number comes from.

    Batches are padded to their own longest example (trl's and transformers' collators),
    so without packing the batch that holds the data's longest example is the peak: that
    example plus the room ``auto`` keeps for the prompt format, at most ``max_seq_length``.
    Packing fills every sequence to ``max_seq_length``, and the span (QA) task pads every
    example to it.
    """
    from modelforge_nb.data.format import auto_max_length

    limit = config.training.max_seq_length
    if not isinstance(limit, int):
        if longest_tokens:
            seq = auto_max_length(longest_tokens)
            return seq, f"max_seq_length auto: the longest example, {longest_tokens} tokens"
        return _AUTO_SEQUENCE, (
            f"max_seq_length auto, taken as {_AUTO_SEQUENCE}: the data's lengths are not known"
        )
    if config.training.packing:
        return limit, "max_seq_length: packing fills every sequence"
    if TASKS[config.task].kind == "span":
        return limit, "max_seq_length: question answering pads every example to it"
    if not longest_tokens:
        return limit, "max_seq_length: the data's lengths are not known"
    seq = min(limit, auto_max_length(longest_tokens))
    if seq == limit:
        return limit, f"max_seq_length: the longest example, {longest_tokens} tokens, reaches it"
    return seq, (
        f"the longest example, {longest_tokens} tokens, with room for the prompt format: "
        f"batches are padded to their longest, not to max_seq_length {limit}"
    )


def _weights(config: FinetuneConfig, shape: ModelShape, half: int) -> int:
    """The base model's weights as the worker loads them."""
    if config.adapter == "full":
        return shape.params * 4  # fp32 master weights under mixed precision
    if config.adapter == "qlora" and config.quantization is not None:
        quant = config.quantization
        bits = quant.bits + _QUANT_CONSTANT_BITS[quant.double_quant or quant.bits == 8]
        # peft's prepare_model_for_kbit_training casts what is not quantized (embeddings,
        # the output head, norms) to fp32
        return int(shape.linear_params * bits / 8) + (shape.params - shape.linear_params) * 4
    return shape.params * half


def _activations(
    shape: ModelShape, tokens: int, seq: int, checkpointing: bool, half: int, per_unit: float
) -> int:
    """What the decoder layers keep for backward: every layer's, or with gradient
    checkpointing each layer's input plus the one layer being recomputed."""
    layers = max(shape.num_layers, 1)
    layer = tokens * shape.lora_units / layers * per_unit * half
    if shape.attention == "eager":  # scores, fp32 softmax and probabilities, per head
        layer += tokens * seq * shape.num_heads * (2 * half + 4)
    if checkpointing:
        return int(tokens * layers * shape.hidden_size * half + layer)
    return int(layer * layers)


def _logits(loss: str, shape: ModelShape, tokens: int, half: int, tile_copies: float) -> int:
    """The loss's vocabulary-sized tensors (``half``: bytes of the 16- or 32-bit compute)."""
    if loss == "none":
        return 0
    if loss == "fused":
        tile = _trl_fused_tile() or (4096, 32768)
        tile_bytes = min(tokens, tile[0]) * min(shape.vocab_size, tile[1]) * half
        # plus the fp32 gradient of the hidden states it hands back
        return int(tile_bytes * tile_copies) + tokens * shape.hidden_size * 4
    return tokens * shape.vocab_size * (half + 4 * _FULL_LOSS_FP32_COPIES)


#: What each strategy divides over the processes (ZeRO's stages; FSDP full-shard is stage 3).
SHARDED_TERMS = {
    "ddp": frozenset(),
    "deepspeed-zero2": frozenset({"gradients", "optimizer"}),
    "deepspeed-zero3": frozenset({"weights", "adapter", "gradients", "optimizer"}),
    "fsdp": frozenset({"weights", "adapter", "gradients", "optimizer"}),
}


def _sharded(terms: dict[str, int], strategy: str, world: int) -> dict[str, int]:
    """Each term as one process holds it: a sharded term divided over ``world``."""
    shared = SHARDED_TERMS[strategy]
    return {k: -(-v // world) if k in shared else v for k, v in terms.items()}


def estimate_run(
    config: FinetuneConfig,
    shape: ModelShape,
    hardware: HardwareInfo,
    *,
    longest_tokens: int | None = None,
    download_bytes: int = 0,
    loss: str | None = None,
) -> Estimate:
    """Peak memory and disk for ``config`` on ``hardware``, broken down by term.

    ``longest_tokens`` (the data's longest example) sets the sequence length
    (:func:`sequence_for`); without it the sequences are taken as ``max_seq_length`` long
    (512 tokens for "auto"). ``loss`` overrides how the loss is computed
    (:func:`loss_kind`), for measurements made with other trainers.
    """
    training = config.training
    precision = resolve_precision(training.precision, hardware)
    on_gpu = hardware.has_cuda
    half = 2 if precision in {"bf16", "fp16"} else 4
    seq, basis = sequence_for(config, longest_tokens)
    params = shape.params
    if config.adapter == "full":
        trainable = params
        adapter = 0
        gradients = params * 4
    else:
        units = shape.units_for(config.lora.target_modules)
        trainable = config.lora.r * units
        if config.lora.use_dora:  # one magnitude per output feature
            trainable += units // 2
        adapter = trainable * 4  # peft keeps adapters in fp32
        gradients = trainable * 4
    weights = _weights(config, shape, half)
    optimizer = trainable * _OPTIMIZER_BYTES[training.optimizer]
    # a preference pair runs the chosen and the rejected answer through the model; KTO's
    # mismatched answer for its KL term runs without gradients, keeping no activations
    # (``Method.pairs`` in the method table)
    tokens = training.batch_size * seq * (2 if METHODS[config.method].pairs else 1)
    generation = generated = 0
    if config.method == "grpo":
        # one pass samples batch_size x grad_accum completions (whole groups of
        # num_generations), each prompt + completion long; the key/value cache holds them
        # all: keys and values of every layer, one per key/value head (grouped-query
        # attention shares them between query heads)
        completion = config.grpo.max_completion_length
        sequences = training.batch_size * training.grad_accum
        seq += completion
        tokens = training.batch_size * seq
        generation = 2 * shape.num_layers * shape.kv_width * half * sequences * seq
        generated = sequences * completion
    loss = loss or loss_kind(config)
    checkpointing = training.gradient_checkpointing
    spread = config.distributed
    world = spread.num_processes if spread.num_processes > 1 else 1
    gathered, whole_optimizer = 0, optimizer  # checkpoints hold every shard
    if world > 1:
        per_process = _sharded(
            {
                "weights": weights,
                "adapter": adapter,
                "gradients": gradients,
                "optimizer": optimizer,
            },
            spread.strategy,
            world,
        )
        if "weights" in SHARDED_TERMS[spread.strategy]:
            gathered = 2 * (weights + adapter) // max(shape.num_layers, 1)
        weights, adapter = per_process["weights"], per_process["adapter"]
        gradients, optimizer = per_process["gradients"], per_process["optimizer"]
    if on_gpu:
        activations = _activations(shape, tokens, seq, checkpointing, half, _SAVED_PER_UNIT)
        logits = _logits(loss, shape, tokens, half, _FUSED_TILE_COPIES)
        allocated = (
            weights + adapter + gradients + optimizer + activations + logits + gathered + generation
        )
        overhead = int(_GPU_CONTEXT_BYTES + _GPU_ALLOCATOR_SLACK * allocated)
    else:
        activations = _activations(shape, tokens, seq, checkpointing, 4, _CPU_SAVED_PER_UNIT)
        logits = _logits(loss, shape, tokens, 4, _CPU_TILE_COPIES)
        overhead = _CPU_RUNTIME_BYTES
    if config.adapter == "full":
        checkpoint = params * half + params * _OPTIMIZER_BYTES[training.optimizer]
        final = params * half
    else:
        checkpoint = trainable * 4 + whole_optimizer
        final = trainable * 4
    return Estimate(
        device="cuda" if on_gpu else "cpu",
        precision=precision,
        sequence_length=seq,
        sequence_basis=basis,
        params=params,
        trainable_params=trainable,
        weights_bytes=int(weights),
        adapter_bytes=int(adapter),
        gradients_bytes=int(gradients),
        optimizer_bytes=int(optimizer),
        activations_bytes=int(activations),
        logits_bytes=int(logits),
        overhead_bytes=overhead,
        download_bytes=download_bytes,
        checkpoints_bytes=int(checkpoint * training.save_total_limit + 1_000_000),
        final_bytes=int(final),
        logs_bytes=_LOG_BYTES,
        tokens_per_second=_tokens_per_second(hardware, shape, config.adapter == "full"),
        # a sampled token costs a forward pass: a third of a trained token
        tokens_per_step=tokens * training.grad_accum + generated // 3,
        loss=loss,
        strategy=spread.strategy if world > 1 else "ddp",
        world_size=world,
        gathered_bytes=int(gathered),
        generation_bytes=int(generation),
    )


def hub_download_bytes(model: str) -> int | None:
    """Bytes still to download for a Hub model: 0 when cached or local, None if unknown."""
    from modelforge_nb.embedded import is_embedded

    if is_embedded(model) or Path(model).is_absolute() or Path(model).exists():
        return 0
    from huggingface_hub import HfApi, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model, "config.json"), str):
        return 0
    try:
        info = HfApi().model_info(model, files_metadata=True)
    except Exception:  # offline or unknown: the size is simply not known
        return None
    wanted = (".safetensors", ".json", ".model", ".txt", ".jinja")
    return sum(s.size or 0 for s in info.siblings or [] if s.rfilename.endswith(wanted))
