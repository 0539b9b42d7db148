"""What this machine has: NVIDIA GPUs (NVML, torch as fallback), CPU, RAM and disk.

Detection never raises: a machine with no GPU, no driver or no NVML library is a CPU
machine. The result is cached (a cache that is safe to drop); ``refresh=True`` re-reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from modelforge_nb.errors import ConfigError

GB = 1e9


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    total_bytes: int
    free_bytes: int
    compute_capability: tuple[int, int]
    driver: str
    bf16: bool
    processes: int = 0

    @property
    def total_gb(self) -> float:
        return self.total_bytes / GB

    @property
    def free_gb(self) -> float:
        return self.free_bytes / GB


@dataclass(frozen=True)
class HardwareInfo:
    gpus: tuple[GpuInfo, ...]
    cpu_count: int
    ram_total_bytes: int
    ram_available_bytes: int
    tier: str
    source: str
    notes: tuple[str, ...] = field(default=())

    @property
    def has_cuda(self) -> bool:
        return bool(self.gpus)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["has_cuda"] = self.has_cuda
        return out

    def summary(self) -> str:
        lines = [f"tier: {self.tier}"]
        for gpu in self.gpus:
            lines.append(
                f"GPU {gpu.index}: {gpu.name}, {gpu.free_gb:.1f} of {gpu.total_gb:.1f} GB free, "
                f"compute {gpu.compute_capability[0]}.{gpu.compute_capability[1]}, "
                f"bf16 {'yes' if gpu.bf16 else 'no'}"
            )
        if not self.gpus:
            lines.append("GPU: none (training runs on the CPU)")
        lines.append(
            f"CPU: {self.cpu_count} cores; RAM: {self.ram_available_bytes / GB:.1f} of "
            f"{self.ram_total_bytes / GB:.1f} GB available"
        )
        return "\n".join(lines)


def _profiles() -> dict[str, dict[str, Any]]:
    text = resources.files("modelforge_nb.plan").joinpath("data/profiles.json").read_text()
    profiles: dict[str, dict[str, Any]] = json.loads(text)["profiles"]
    return profiles


def profile_names() -> tuple[str, ...]:
    """The names ``hardware_profile`` knows."""
    return tuple(_profiles())


def hardware_profile(name: str) -> HardwareInfo:
    """A machine people rent or get free (``colab-t4``, ``h100-80gb``, ``cpu-16gb``...), to
    plan a run for it: ``preflight(config, hardware=...)``, ``recommend(task, hardware=...)``.

    GPU memory is what NVML reports for that GPU; RAM and cores are typical of the offering
    (``notes`` says which). Its GPUs are taken as idle: all their memory free.
    """
    profile = _profiles().get(name)
    if profile is None:
        raise ConfigError(
            "hardware.unknown_profile",
            f"There is no hardware profile {name!r}.",
            field="hardware",
            hint=f"Use one of: {', '.join(profile_names())}.",
        )
    memory = int(profile.get("gpu_mib", 0)) * 2**20
    gpus = tuple(
        GpuInfo(
            index,
            str(profile["gpu"]),
            memory,
            memory,
            (int(profile["compute"][0]), int(profile["compute"][1])),
            "profile",
            bool(profile["bf16"]),
        )
        for index in range(int(profile["gpus"]))
    )
    ram = int(float(profile["ram_gb"]) * GB)
    return HardwareInfo(
        gpus=gpus,
        cpu_count=int(profile["cpus"]),
        ram_total_bytes=ram,
        ram_available_bytes=ram,
        tier=tier_for(memory, ram),
        source=f"profile:{name}",
        notes=(f"planned for {profile['where']}; typical figures, not this machine",),
    )


def _tier_rules() -> list[dict[str, Any]]:
    text = resources.files("modelforge_nb.plan").joinpath("data/tiers.json").read_text()
    rules: list[dict[str, Any]] = json.loads(text)["rules"]
    return rules


def tier_for(vram_bytes: int, ram_bytes: int) -> str:
    """The tier for a GPU of ``vram_bytes`` (0: no CUDA GPU) and ``ram_bytes`` of RAM."""
    if vram_bytes <= 0:
        return "cpu"
    vram, ram = vram_bytes / GB, ram_bytes / GB
    for rule in _tier_rules():
        if vram < rule.get("vram_below", float("inf")) and ram < rule.get(
            "ram_below", float("inf")
        ):
            return str(rule["tier"])
    return "high"


def _nvml_gpus() -> tuple[list[GpuInfo], str | None]:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as error:  # no library, no driver, no device: all mean no NVML
        return [], f"NVML unavailable ({type(error).__name__})"
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            try:
                processes = len(pynvml.nvmlDeviceGetComputeRunningProcesses(handle))
            except Exception:  # not every driver lists processes
                processes = 0
            gpus.append(
                GpuInfo(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    total_bytes=int(memory.total),
                    free_bytes=int(memory.free),
                    compute_capability=(int(major), int(minor)),
                    driver=driver,
                    bf16=int(major) >= 8,
                    processes=processes,
                )
            )
        return gpus, None
    except Exception as error:
        return [], f"NVML query failed ({type(error).__name__}: {error})"
    finally:
        with contextlib.suppress(Exception):  # a half-initialised NVML may not shut down
            pynvml.nvmlShutdown()


def _torch_gpus() -> list[GpuInfo]:
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        gpus = []
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            major, minor = torch.cuda.get_device_capability(index)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=torch.cuda.get_device_name(index),
                    total_bytes=int(total),
                    free_bytes=int(free),
                    compute_capability=(major, minor),
                    driver=str(torch.version.cuda),
                    bf16=major >= 8,
                )
            )
        return gpus
    except Exception:  # a broken CUDA install must not break detection
        return []


def _torch_already_loaded() -> bool:
    import sys

    return "torch" in sys.modules


@cache
def _detect() -> HardwareInfo:
    import psutil

    gpus, note = _nvml_gpus()
    source = "nvml"
    notes = []
    if not gpus:
        if note:
            notes.append(note)
        # torch is only asked when NVML found nothing and torch is loaded anyway:
        # importing it just to learn there is no GPU would cost seconds.
        gpus = _torch_gpus() if _torch_already_loaded() else []
        source = "torch" if gpus else "none"
    memory = psutil.virtual_memory()
    vram = max((g.total_bytes for g in gpus), default=0)
    return HardwareInfo(
        gpus=tuple(gpus),
        cpu_count=os.cpu_count() or 1,
        ram_total_bytes=int(memory.total),
        ram_available_bytes=int(memory.available),
        tier=tier_for(vram, int(memory.total)),
        source=source,
        notes=tuple(notes),
    )


def detect_hardware(refresh: bool = False) -> HardwareInfo:
    """GPUs, CPU and RAM of this machine; cached, ``refresh=True`` re-reads."""
    if refresh:
        _detect.cache_clear()
    return _detect()


def resolve_precision(requested: str, hardware: HardwareInfo) -> str:
    """THE precision rule, for training and for chat: ``auto`` is bf16 on GPUs that all have
    it, fp16 on older GPUs (a T4), fp32 on the CPU; an explicit choice stays."""
    if requested != "auto":
        return requested
    if not hardware.has_cuda:
        return "fp32"
    return "bf16" if all(g.bf16 for g in hardware.gpus) else "fp16"


def free_disk_bytes(folder: str | Path) -> int:
    """Free bytes on the filesystem that holds ``folder`` (or its nearest existing parent)."""
    path = Path(folder).expanduser().resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return int(shutil.disk_usage(path).free)
