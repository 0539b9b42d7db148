"""``python -m modelforge_nb.worker RUN_DIR [--resume]``: the training process."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from modelforge_nb.tuner.worker import main

    raise SystemExit(main(sys.argv[1:]))
