"""A run whose disk fills up mid-training, then resumed once space is freed.

Run as ``unshare -Urm python -m tests.robustness.disk_full MOUNT MODEL DATA``: in a mount
namespace of its own it mounts a small tmpfs at MOUNT (a real full disk, ENOSPC from the
kernel), trains there, and prints what a user would see as one JSON line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.rundir import last_complete_checkpoint, read_events, read_json
from modelforge_nb.runs import Workspace

#: Room left for the run once it has started: two of the tiny model's checkpoints (about
#: 0.55 MB each), not more.
ROOM_BYTES = 1_400_000


def _fill(path: Path) -> None:
    """Write ``path`` until the disk refuses another byte."""
    with path.open("wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                continue


def main(mount: Path, model: str, data: str) -> dict[str, object]:
    mount.mkdir(parents=True, exist_ok=True)
    program = shutil.which("mount") or "/bin/mount"
    subprocess.run([program, "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(mount)], check=True)
    workspace = Workspace(mount / "home")
    config = FinetuneConfig(
        model=model,
        dataset=data,
        training={"max_steps": 40, "save_steps": 2, "save_total_limit": 100, "batch_size": 2},
    )
    run = workspace.finetune(config)
    filler = mount / "filler"  # another program takes the rest of the disk
    filler.write_bytes(b"\0" * max(0, shutil.disk_usage(mount).free - ROOM_BYTES))
    ended = run.wait(timeout=300)
    _fill(mount / "filler-2")  # reads must work with not one byte free
    status = read_json(run.output_dir / "status.json")
    full = {
        "status": ended,
        "error": run.error,
        "error_code": status.get("error_code"),
        "free_bytes": shutil.disk_usage(mount).free,
        "listed": [r.status for r in Workspace(mount / "home").list_runs()],
        "summaries": [s["status"] for s in workspace.summaries()],
        "checkpoint": getattr(last_complete_checkpoint(run.output_dir), "name", None),
        "partial_left": sorted(
            p.name
            for p in (run.output_dir / "checkpoints").glob("checkpoint-*")
            if not (p / ".modelforge-complete").exists()
        ),
    }
    filler.unlink()
    (mount / "filler-2").unlink()
    run.resume()
    resumed = run.wait(timeout=300)
    events, _ = read_events(run.output_dir)
    starts = [e for e in events if e["type"] == "start"]
    return {
        "full": full,
        "resumed": resumed,
        "resumed_error": run.error,
        "resumed_from": starts[-1].get("resumed_from"),
        "final_step": run.metrics.get("global_step"),
    }


if __name__ == "__main__":
    result = main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
    sys.stdout.write(json.dumps(result) + "\n")
