"""THE precision-to-dtype map: each ``training.precision`` and the torch dtype it computes in.

Which precision ``auto`` becomes on a machine is ``hardware.resolve_precision``; this module
only names the dtypes, so the config's rules, the loaders and the launcher agree on them.
"""

from __future__ import annotations

#: Each precision's torch dtype, by its name in ``torch`` (and in
#: ``quantization.compute_dtype``).
PRECISION_DTYPES: dict[str, str] = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def dtype_name(precision: str) -> str:
    """The torch dtype name of ``precision`` (``bf16`` -> ``bfloat16``); a dtype name stays."""
    return PRECISION_DTYPES.get(precision, precision)


def is_mixed(precision: str) -> bool:
    """Whether ``precision`` computes in a 16-bit type (mixed precision), not fp32."""
    return precision in PRECISION_DTYPES and precision != "fp32"
