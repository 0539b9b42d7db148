"""Optional dependencies: a missing one is named with its extra; the CPU path stays quiet."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modelforge_nb.errors import ModelForgeError
from modelforge_nb.optional import EXTRAS, require


def test_a_missing_optional_package_names_the_extra_that_brings_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(EXTRAS, "modelforge_nb_not_installed", "qlora")
    with pytest.raises(ModelForgeError) as caught:
        require("modelforge_nb_not_installed", "QLoRA", field="adapter")
    assert caught.value.code == "extra.missing" and caught.value.field == "adapter"
    assert "pip install 'modelforge-nb[qlora]'" in str(caught.value)


def test_an_installed_optional_package_is_imported() -> None:
    assert require("gguf", "the embedded model").__name__ == "gguf"


def test_loading_an_adapter_on_the_cpu_prints_nothing_from_bitsandbytes() -> None:
    """peft imports bitsandbytes when it is installed; its CPU-kernel warning stays out."""
    # Some peft releases import bitsandbytes with peft, others when they build LoRA layers.
    code = (
        "from modelforge_nb.loading import peft_model_class\n"
        "peft_model_class()\n"
        "import bitsandbytes, peft.tuners.lora\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "kernels" not in done.stderr and "bitsandbytes" not in done.stderr, done.stderr
