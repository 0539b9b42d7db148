"""Loading a run's weights for use: the dtype rule, and an adapter put onto its base.

Chat and merge load the same way, so a model answers in the playground exactly as it
is merged and pushed.
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
