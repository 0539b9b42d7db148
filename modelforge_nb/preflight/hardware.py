"""Hardware facts live in ``modelforge_nb.hardware`` (the tuner and chat need them too)."""

from __future__ import annotations

from modelforge_nb.hardware import (
    GB,
    GpuInfo,
    HardwareInfo,
    detect_hardware,
    free_disk_bytes,
    resolve_precision,
    tier_for,
)

__all__ = [
    "GB",
    "GpuInfo",
    "HardwareInfo",
    "detect_hardware",
    "free_disk_bytes",
    "resolve_precision",
    "tier_for",
]
