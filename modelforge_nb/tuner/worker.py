"""The training process: ``python -m modelforge_nb.worker RUN_DIR [--resume]``.

It reads the run folder, trains with transformers/peft/trl (no hand-written loop), and
reports only through the run folder: events, status, metrics and the saved weights.
Standard input is closed; a stop request (SIGTERM, SIGINT or the stop file) ends the run
at the next step with a checkpoint; any exception ends it ``failed`` with a one-line
reason, the traceback in ``worker.log`` and half-written files removed.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import modelforge_nb.rundir as rundir
from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.tasks import TASKS, Task
from modelforge_nb.data.lengths import max_length_for
from modelforge_nb.errors import ModelForgeError
from modelforge_nb.registry import update_index
from modelforge_nb.rundir import (
    HEARTBEAT_SECONDS,
    RESERVE_BYTES,
    RESERVE_FILE,
    append_event,
    beat,
    last_complete_checkpoint,
    remove_partial_outputs,
    write_json_atomic,
)

log = logging.getLogger("modelforge_nb.worker")


@dataclass
class Outcome:
    stopped: bool
    metrics: dict[str, Any] = field(default_factory=dict)


class RunState:
    """Status writes for one run: the folder first (the record), then the index.

    The index is bookkeeping: when it cannot be written (a locked or removed registry
    file), the run goes on and its folder still tells the truth; ``Registry.rebuild``
    catches the index up.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        identity = rundir.read_identity(run_dir)
        self.run_id = identity["id"]
        self.registry_path = identity.get("registry")
        self._last_index = 0.0

    def _index(self, columns: dict[str, Any], *, timeout: float = 2.0) -> None:
        if self.registry_path:
            update_index(self.registry_path, self.run_id, timeout=timeout, **columns)

    def set(self, status: str, **fields: Any) -> None:
        current = rundir.set_status(self.run_dir, status, updated_at=time.time(), **fields)
        columns = {
            k: current.get(k)
            for k in ("step", "total_steps", "last_loss", "error", "started_at", "updated_at")
        }
        if status == "completed":
            columns["metrics"] = rundir.read_metrics(self.run_dir)
        self._index({"status": status, **columns})

    def progress(self, event: dict[str, Any]) -> None:
        """Record progress in status.json; index it at most once a second."""
        step, total, loss = event.get("step"), event.get("total_steps"), event.get("loss")
        fields: dict[str, Any] = {"step": step, "total_steps": total, "updated_at": time.time()}
        if isinstance(loss, int | float):  # a "nan" logged as text is not a last loss
            fields["last_loss"] = loss
        current = rundir.set_status(self.run_dir, **fields)
        now = time.monotonic()
        if now - self._last_index >= 1.0:
            self._last_index = now
            self._index(
                {
                    "step": step,
                    "total_steps": total,
                    "last_loss": current.get("last_loss"),
                    "updated_at": current["updated_at"],
                },
                timeout=0.1,  # progress: skip a beat rather than hold a training step up
            )


def _heartbeat(run_dir: Path, done: threading.Event) -> None:
    while True:
        try:
            beat(run_dir)
        except OSError as error:  # a full disk: the run's own failure will say so
            log.warning("Heartbeat not written: %s", error)
        if done.wait(HEARTBEAT_SECONDS):
            return


_OOM_HINT = (
    "Try training.gradient_checkpointing: true, a smaller training.batch_size with a larger "
    "grad_accum, a shorter training.max_seq_length, or adapter: qlora; "
    "preflight(config, probe=True) measures the real peak before a run."
)


def _one_line(error: BaseException) -> str:
    if isinstance(error, ModelForgeError):
        text = " ".join(str(error).split()) or error.code
    elif isinstance(error, KeyboardInterrupt):
        text = "Interrupted before training started."
    elif isinstance(error, MemoryError) or "out of memory" in str(error).lower():
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        text = f"Out of memory ({first[:200]}). {_OOM_HINT}"
    else:
        text = f"{type(error).__name__}: {error}".splitlines()[0]
    return text[:500]


def _disk_full(error: BaseException, run_dir: Path) -> ModelForgeError | None:
    """A ``disk.full`` error when ``error`` came from a full disk: ENOSPC anywhere in its
    chain, or (for libraries that lose the errno, like safetensors' and torch's writers)
    a disk with less than a megabyte free under the run folder."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    by_errno = any(getattr(e, "errno", None) == errno.ENOSPC for e in chain)
    by_text = any("no space left" in str(e).lower() for e in chain)
    try:
        usage = shutil.disk_usage(run_dir)
    except OSError:
        return None
    if not (by_errno or by_text or usage.free < 1 << 20):
        return None
    checkpoint = last_complete_checkpoint(run_dir)
    then = (
        f"then resume: it continues from {checkpoint.name}."
        if checkpoint
        else "then resume the run (no checkpoint was complete, so it starts over)."
    )
    return ModelForgeError(
        "disk.full",
        f"The disk holding {run_dir} is full ({usage.free:,} bytes free of {usage.total:,}).",
        field="output_root",
        hint=f"Free space there (or set output_root to a folder on a bigger disk), {then}",
    )


class _Reserve:
    """A little disk space held while training and given back on failure, so that the
    failure can still be written down when the disk has filled up."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / RESERVE_FILE
        try:
            self.path.write_bytes(b"\0" * RESERVE_BYTES)
        except OSError:
            self.path.unlink(missing_ok=True)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def _attempt(what: str, action: Any, *args: Any, **kwargs: Any) -> bool:
    """Run one bookkeeping write; log (never raise) when it fails."""
    try:
        action(*args, **kwargs)
    except Exception as error:  # recording an outcome must not change it
        log.warning("Could not %s: %s", what, error)
        return False
    return True


def _data_hash(sources: list[str | None]) -> str:
    digest = hashlib.sha256()
    for source in sources:
        if source is None:
            continue
        path = Path(source)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                with file.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
            else:
                digest.update(str(file).encode())
    return digest.hexdigest()[:16]


def _versions() -> dict[str, str]:
    import importlib.metadata as metadata

    out = {}
    for name in ("modelforge-nb", "torch", "transformers", "peft", "trl", "datasets"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _load_model(
    task: Task, model_path: str, config: FinetuneConfig, precision: str, on_gpu: bool
) -> Any:
    import transformers

    from modelforge_nb.tuner.builders import load_dtype, quantization_config

    auto = getattr(transformers, task.auto_class)
    quant = quantization_config(config, precision)
    model = auto.from_pretrained(
        model_path,
        dtype=load_dtype(config, precision, on_gpu),
        quantization_config=quant,
        trust_remote_code=config.trust_remote_code,
        **({"device_map": {"": int(os.environ.get("LOCAL_RANK", "0"))}} if quant else {}),
    )
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.training.gradient_checkpointing
        )
    return model


def _stages(run_dir: Path | None) -> Any:
    """What the worker does before the first step, as ``stage`` events for the dashboard
    (the main process only)."""

    def stage(name: str) -> None:
        if run_dir is not None:
            append_event(run_dir, "stage", name=name)

    return stage


def _divergence_causes(config: FinetuneConfig, precision: str) -> str:
    rate = config.training.learning_rate
    told = f"training.learning_rate: {rate}" if rate is not None else "the method's default"
    causes = [f"a learning rate too high ({config.learning_rate:g}, {told})"]
    if config.adapter != "full":
        scale = config.lora.alpha / config.lora.r
        causes.append(f"a large LoRA scale (lora.alpha / lora.r = {scale:g})")
    if precision == "fp16":
        causes.append("fp16 overflow (try training.precision: bf16, or fp32)")
    return ", ".join(causes)


def _check_weights_finite(model: Any, config: FinetuneConfig, precision: str, step: int) -> None:
    """Refuse to save trained weights that hold NaN or infinity (a run is never
    ``completed`` with them), whatever the logged losses said."""
    import torch

    from modelforge_nb.tuner.callbacks import non_finite_error

    for name, parameter in model.named_parameters():
        if parameter.requires_grad and not bool(torch.isfinite(parameter).all()):
            raise non_finite_error(
                f"trained weight {name}", float("nan"), step, _divergence_causes(config, precision)
            )


def train(
    config: FinetuneConfig,
    run_dir: Path,
    *,
    resume: bool,
    flag: threading.Event,
    state: RunState | None,
    probe: bool = False,
) -> Outcome:
    from transformers import AutoTokenizer

    from modelforge_nb.data import build_examples, load_dataset_for, prompt_format_for
    from modelforge_nb.embedded import resolve_model
    from modelforge_nb.hardware import detect_hardware, resolve_precision
    from modelforge_nb.tuner.callbacks import EventCallback, FiniteCallback, StopCallback
    from modelforge_nb.tuner.evaluation import evaluate
    from modelforge_nb.tuner.probe import probe_measure, probe_setup
    from modelforge_nb.tuner.recipes import Job, build_trainer

    task = TASKS[config.task]
    hardware = detect_hardware()
    on_gpu = hardware.has_cuda
    precision = resolve_precision(config.training.precision, hardware)
    model_path = resolve_model(config.model)
    tokenizer = AutoTokenizer.from_pretrained(
        model_path, trust_remote_code=config.trust_remote_code
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    prompt_format = prompt_format_for(tokenizer, task)
    stage = _stages(run_dir if state is not None else None)
    stage("reading the data")
    data = load_dataset_for(config)
    if probe:
        data, config = probe_setup(config, data)
    loss_on = config.training.loss_on
    train_examples = build_examples(data.train, data.data_format, task, prompt_format, loss_on)
    eval_examples = (
        build_examples(data.eval, data.data_format, task, prompt_format, loss_on)
        if data.eval
        else None
    )
    max_length = max_length_for(config, tokenizer, data.train, data.data_format)
    checkpoint = last_complete_checkpoint(run_dir) if resume else None
    start_facts: dict[str, Any] | None = None
    if state is not None:  # the main process: hash the data once, not on every rank
        start_facts = {
            "data_hash": _data_hash([config.dataset, config.eval_dataset]),
            "rows": len(data.train),
            "eval_rows": len(data.eval or []),
        }
        rundir.write_prompt_format(run_dir, prompt_format)
        append_event(
            run_dir,
            "start",
            versions=_versions(),
            **start_facts,
            max_length=max_length,
            precision=precision,
            device="cuda" if on_gpu else "cpu",
            pid=os.getpid(),
            world_size=int(os.environ.get("WORLD_SIZE", "1")),
            resumed_from=str(checkpoint) if checkpoint else None,
        )
    stage("loading the model")
    model = _load_model(task, model_path, config, precision, on_gpu)
    stop = StopCallback(run_dir, flag)
    finite = FiniteCallback(_divergence_causes(config, precision), fp16=precision == "fp16")
    callbacks = [
        EventCallback(run_dir, on_progress=state.progress if state else None),
        finite,
        stop,
    ]
    rewards: tuple[Any, ...] = ()
    if config.method == "grpo":
        stage("trying the rewards")
        from modelforge_nb.tuner.reward_trial import checked_rewards

        rewards = checked_rewards(
            config, model, tokenizer, train_examples, run_dir, probe=probe, main=state is not None
        )
    stage("tokenizing")
    trainer = build_trainer(
        Job(
            config=config,
            model=model,
            tokenizer=tokenizer,
            train=train_examples,
            evaluation=eval_examples,
            run_dir=run_dir,
            max_length=max_length,
            callbacks=callbacks,
            precision=precision,
            on_gpu=on_gpu,
            rewards=rewards,
        )
    )
    if state is not None:
        from modelforge_nb.tuner.effective import effective_arguments

        write_json_atomic(run_dir / rundir.EFFECTIVE_ARGS_FILE, effective_arguments(trainer))
    stage("training")
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if probe:
        return Outcome(stopped=False, metrics=probe_measure(run_dir, on_gpu, started))
    if stop.stopped:
        return Outcome(stopped=True)
    _check_weights_finite(trainer.model, config, precision, trainer.state.global_step)
    from modelforge_nb.tuner.effective import peak_memory_bytes

    metrics: dict[str, Any] = {
        "train_loss": result.training_loss,
        "global_step": trainer.state.global_step,
        # Peak of this process so far: loading and training, before evaluation and saving.
        "peak_memory_bytes": peak_memory_bytes(on_gpu),
    }
    if eval_examples:
        metrics.update(evaluate(trainer, config, tokenizer, eval_examples, max_length, run_dir))
    if trainer.is_world_process_zero():
        final = run_dir / (rundir.MODEL_DIR if config.adapter == "full" else rundir.ADAPTER_DIR)
        partial = run_dir / f"{final.name}.partial"
        trainer.save_model(str(partial))
        tokenizer.save_pretrained(str(partial))
        from modelforge_nb.export.card import build_model_card

        card = build_model_card(config, metrics, title=run_dir.name, start=start_facts)
        (partial / "README.md").write_text(str(card), encoding="utf-8")
        # A pickle: never shipped beside the safetensors weights.
        (partial / "training_args.bin").unlink(missing_ok=True)
        partial.replace(final)
    return Outcome(stopped=False, metrics=metrics)


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m modelforge_nb.worker RUN_DIR [--resume]\n")
        return 2
    run_dir = Path(argv[0]).resolve()
    resume = "--resume" in argv[1:]
    probe = "--probe" in argv[1:]
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from modelforge_nb.optional import quiet_cpu_accelerators

    quiet_cpu_accelerators()
    main_process = int(os.environ.get("RANK", "0")) == 0
    flag = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("Stop requested (signal %s); stopping at the next step.", signum)
        flag.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    state = RunState(run_dir) if main_process else None
    reserve = _Reserve(run_dir) if main_process else None
    done = threading.Event()
    if main_process:
        threading.Thread(target=_heartbeat, args=(run_dir, done), daemon=True).start()
    started = time.time()
    try:
        config = rundir.read_config(run_dir)
        if state is not None:
            state.set("running", started_at=started, error=None, error_details=None)
            _stages(run_dir)("loading libraries")
        outcome = train(config, run_dir, resume=resume, flag=flag, state=state, probe=probe)
    except BaseException as error:  # every failure must end as a recorded 'failed' run
        _record_failure(run_dir, state, reserve, error)
        done.set()
        return 1
    # The outcome is decided: what follows only records it, and a failure to record (a
    # full disk, a locked index) is logged, never turned into a different outcome.
    if state is not None:
        _record_outcome(run_dir, state, reserve, outcome, started)
    log.info("Run ended.")
    done.set()
    return 0


def _record_outcome(
    run_dir: Path, state: RunState, reserve: _Reserve | None, outcome: Outcome, started: float
) -> None:
    status = "stopped" if outcome.stopped else "completed"
    if reserve is not None:
        reserve.release()
    if not outcome.stopped:
        outcome.metrics["runtime_s"] = round(time.time() - started, 2)
        _attempt("write the metrics", rundir.write_metrics, run_dir, outcome.metrics)
    _attempt(
        "append the end event", append_event, run_dir, "end", status=status, metrics=outcome.metrics
    )
    _attempt("write the status", state.set, status, ended_at=time.time())


def _record_failure(
    run_dir: Path, state: RunState | None, reserve: _Reserve | None, error: BaseException
) -> None:
    full = _disk_full(error, run_dir) if state is not None else None
    if reserve is not None:
        reserve.release()
    _attempt("write the traceback", traceback.print_exception, error, file=sys.stdout)
    _attempt("flush the log", sys.stdout.flush)
    if state is None:
        return
    cause = full or error
    reason = _one_line(cause)
    code = cause.code if isinstance(cause, ModelForgeError) else None
    removed = remove_partial_outputs(run_dir)
    _attempt(
        "append the end event",
        append_event,
        run_dir,
        "end",
        status="failed",
        error=reason,
        error_code=code,
    )
    details = cause.details if isinstance(cause, ModelForgeError) else None
    _attempt(
        "write the status",
        state.set,
        "failed",
        error=reason,
        error_code=code,
        ended_at=time.time(),
        removed_partial=removed,
        **({"error_details": details} if details else {}),
    )
