"""Before a weight loads: the machine, what a run needs, what fits, and the verdict."""

from modelforge_nb.hardware import GpuInfo, HardwareInfo, detect_hardware, tier_for
from modelforge_nb.plan.checks import PreflightIssue, PreflightReport, preflight
from modelforge_nb.plan.estimate import Estimate, estimate_run
from modelforge_nb.plan.recommend import Recommendation, recommend
from modelforge_nb.plan.shape import ModelShape, model_shape
from modelforge_nb.plan.what_trains import PreviewExample, preview

__all__ = [
    "Estimate",
    "GpuInfo",
    "HardwareInfo",
    "ModelShape",
    "PreflightIssue",
    "PreflightReport",
    "PreviewExample",
    "Recommendation",
    "detect_hardware",
    "estimate_run",
    "model_shape",
    "preflight",
    "preview",
    "recommend",
    "tier_for",
]
