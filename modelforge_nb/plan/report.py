"""What preflight found: its issues, each with a stable dotted code, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelforge_nb.data.issues import DatasetReport
    from modelforge_nb.hardware import HardwareInfo
    from modelforge_nb.plan.estimate import Estimate
    from modelforge_nb.plan.shape import ModelShape

GB = 1e9


@dataclass(frozen=True)
class PreflightIssue:
    code: str
    message: str
    field: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.message}" + (f" {self.hint}" if self.hint else "")

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self), "field": self.field}


@dataclass
class PreflightReport:
    """The verdict: ``ok`` when there is no blocking problem."""

    problems: list[PreflightIssue] = field(default_factory=list)
    warnings: list[PreflightIssue] = field(default_factory=list)
    estimate: Estimate | None = None
    hardware: HardwareInfo | None = None
    dataset: DatasetReport | None = None
    shape: ModelShape | None = None
    probe: dict[str, Any] | None = None
    disk_folder: Path | None = None
    """Where the run's folder will be made: the free disk checked is there."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def codes(self) -> set[str]:
        return {i.code for i in self.problems} | {i.code for i in self.warnings}

    def summary(self) -> str:
        lines = ["Preflight: ready to train." if self.ok else "Preflight: this run would fail."]
        lines += [f"problem [{p.code}] {p}" for p in self.problems]
        lines += [f"warning [{w.code}] {w}" for w in self.warnings]
        if self.estimate is not None:
            lines.append(f"estimate: {self.estimate.summary()}")
        if self.probe and "probe_peak_bytes" in self.probe:
            eta = float(self.probe.get("eta_seconds", 0))
            lines.append(
                f"measured (2 trial steps, longest batch, {self.probe.get('probe_device')}): "
                f"peak {self.probe['probe_peak_bytes'] / GB:.2f} GB, "
                f"{self.probe['probe_step_seconds']:.2f} s/step, ETA {eta / 60:.1f} min for "
                f"{self.probe.get('total_steps')} steps"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
            "estimate": self.estimate.to_dict() if self.estimate else None,
            "hardware": self.hardware.to_dict() if self.hardware else None,
            "probe": self.probe,
        }
