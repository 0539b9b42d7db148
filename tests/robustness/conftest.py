"""The sweep's budget: a few hundred fixed examples per property in ``make test``, more
under ``make robustness`` (``MODELFORGE_SWEEP_EXAMPLES``)."""

from __future__ import annotations

import os


def sweep_examples(default: int) -> int:
    """How many examples a property of the sweep tries."""
    return int(os.environ.get("MODELFORGE_SWEEP_EXAMPLES", default))
