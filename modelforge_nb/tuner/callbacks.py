"""Trainer callbacks: the trainer talks to the outside world only through these.

``EventCallback`` turns trainer hooks into events (and marks checkpoints complete);
``StopCallback`` turns a stop request into "save a checkpoint and end".
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from modelforge_nb.errors import ModelForgeError
from modelforge_nb.rundir import COMPLETE_MARKER, STOP_REQUEST, append_event


def _gpu_memory() -> int | None:
    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return None


class EventCallback(TrainerCallback):  # type: ignore[misc]
    """Appends log, eval and checkpoint events to the run's ``events.jsonl``."""

    def __init__(self, run_dir: Path, *, on_progress: Any = None) -> None:
        self.run_dir = run_dir
        self.on_progress = on_progress
        self._last_tokens: float | None = None
        self._last_time: float | None = None

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        # NaN and infinity as text: JSON has no such numbers, and a browser's parser
        # refuses the whole file over one of them.
        values: dict[str, Any] = {
            k: v if math.isfinite(v) else str(v)
            for k, v in logs.items()
            if isinstance(v, int | float)
        }
        values.update(step=state.global_step, epoch=state.epoch)
        if any(k.startswith("eval_") for k in values):
            append_event(self.run_dir, "eval", **values)
            return
        if "train_runtime" in values:
            return
        now = time.monotonic()
        tokens = values.get("num_tokens")
        speed = None
        if tokens is not None and self._last_tokens is not None and self._last_time is not None:
            elapsed = now - self._last_time
            speed = (tokens - self._last_tokens) / elapsed if elapsed > 0 else None
        if tokens is not None:
            self._last_tokens, self._last_time = tokens, now
        values.update(
            total_steps=state.max_steps, tokens_per_second=speed, gpu_memory_bytes=_gpu_memory()
        )
        event = append_event(self.run_dir, "log", **values)
        if self.on_progress is not None:
            self.on_progress(event)

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero:
            return
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if checkpoint.is_dir():
            (checkpoint / COMPLETE_MARKER).write_text(str(state.global_step), encoding="utf-8")
            append_event(self.run_dir, "checkpoint", step=state.global_step, path=str(checkpoint))


class StopCallback(TrainerCallback):  # type: ignore[misc]
    """Ends training at the next step boundary, with a checkpoint, when a stop is asked.

    A stop is asked by a signal (``flag``) or by the ``stop.request`` file, which also
    reaches every process of a multi-process run; the processes agree on the step to stop
    at through an all-reduce, so none of them waits for the others forever.
    """

    def __init__(self, run_dir: Path, flag: threading.Event) -> None:
        self.run_dir = run_dir
        self.flag = flag
        self.stopped = False

    def _requested(self) -> bool:
        local = self.flag.is_set() or (self.run_dir / STOP_REQUEST).exists()
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            import torch

            device = "cuda" if dist.get_backend() == "nccl" else "cpu"
            value = torch.tensor([1 if local else 0], device=device)
            dist.all_reduce(value, op=dist.ReduceOp.MAX)
            return bool(value.item())
        return local

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._requested():
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True


class NonFiniteError(ModelForgeError):
    """Training produced a NaN or infinite loss or gradient norm."""


def non_finite_error(what: str, value: float, step: int, causes: str) -> NonFiniteError:
    if step <= 1:  # before any update: the inputs, not the training, hold the NaN
        causes = f"NaN or infinite values in the base model's weights; {causes}"
        after = "Check the model (it gives NaN before training changes anything)."
    else:
        after = f"Resume only from a checkpoint before step {step}."
    return NonFiniteError(
        "train.non_finite",
        f"The {what} became {value} at step {step}, so the weights are no longer numbers; "
        "the run was ended rather than saved.",
        hint=f"Likely causes: {causes}. {after}",
    )


class FiniteCallback(TrainerCallback):  # type: ignore[misc]
    """Ends the run ``failed`` when the loss or the gradient norm stops being finite.

    Under fp16 the gradient scaler skips a step whose gradients overflow and lowers its
    scale, so a few non-finite gradient norms in a row are normal there; more than
    ``fp16_skips`` are not.
    """

    def __init__(self, causes: str, *, fp16: bool, fp16_skips: int = 5) -> None:
        self.causes = causes
        self.allowed = fp16_skips if fp16 else 0
        self.skipped = 0

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        logs = logs or {}
        loss = logs.get("loss")
        if isinstance(loss, int | float) and not math.isfinite(loss):
            raise non_finite_error("training loss", loss, state.global_step, self.causes)
        norm = logs.get("grad_norm")
        if isinstance(norm, int | float) and not math.isfinite(norm):
            self.skipped += 1
            if self.skipped > self.allowed:
                raise non_finite_error("gradient norm", norm, state.global_step, self.causes)
        elif norm is not None:
            self.skipped = 0
