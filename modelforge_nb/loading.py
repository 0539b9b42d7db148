"""Opening a run's weights for use: ``open_weights``, the dtype rule, an adapter on its base.

Chat, merge and the GGUF check all open weights through ``open_weights``, so a model answers
in the playground exactly as it is merged, pushed and converted.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelforge_nb.hardware import HardwareInfo


def inference_dtype(hardware: HardwareInfo | None = None) -> Any:
    """The dtype chat and merge load weights in: training's ``auto`` precision rule, so a T4
    (no bf16) gets fp16 and a CPU fp32."""
    from modelforge_nb.hardware import detect_hardware, resolve_precision
    from modelforge_nb.tuner.builders import torch_dtype

    return torch_dtype(resolve_precision("auto", hardware or detect_hardware()))


def peft_model_class() -> Any:
    """peft's ``PeftModel``, imported without bitsandbytes' CPU noise."""
    from modelforge_nb.optional import quiet_cpu_accelerators

    quiet_cpu_accelerators()
    from peft import PeftModel

    return PeftModel


def load_adapter(base: Any, adapter: Path) -> Any:
    """``PeftModel.from_pretrained``, without the FutureWarning peft triggers in transformers 5.

    peft reads the deprecated ``is_gradient_checkpointing`` property while wrapping the
    model; the warning is about peft's code, and would land in the user's cell output.
    """
    peft_model = peft_model_class()
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
        )
        return peft_model.from_pretrained(base, adapter)


def open_weights(
    source: str | Path,
    *,
    auto_class: str = "AutoModelForCausalLM",
    adapter: Path | None = None,
    dtype: Any = None,
    device: str | None = None,
    trust_remote_code: bool = False,
    **options: Any,
) -> Any:
    """A model from ``source`` (a folder or a Hub id) for use, with its progress bars off.

    ``dtype``: ``inference_dtype()`` unless given (the GGUF check compares in float32).
    ``device``: where the base goes before the ``adapter`` is put on it; ``"auto"`` is the GPU
    when there is one; None leaves it where transformers loads it (the CPU). ``options`` go
    to ``from_pretrained`` (``gguf_file``).
    """
    import transformers

    with no_progress_bars():
        model = getattr(transformers, auto_class).from_pretrained(
            str(source),
            dtype=inference_dtype() if dtype is None else dtype,
            trust_remote_code=trust_remote_code,
            **options,
        )
    if device is not None:
        model = model.to(_device(device))
    return model if adapter is None else load_adapter(model, adapter)


def _device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' own progress bars off while weights load in the notebook's kernel.

    Some releases (Colab's 5.15) draw a "Loading weights" bar on stderr for every load, which
    lands in the cell under a chat or a merge; the widget already says what is loading.
    """
    from transformers.utils import logging

    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()
