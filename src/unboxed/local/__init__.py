"""Local explanations: why did the black box make this decision?

The gradient family runs on Captum and needs a torch black box. LIME, KernelSHAP and
occlusion are configurations of one perturbation engine and work on any black box.
Every explainer has ``explain(X, *, target=None, ...) -> Attribution`` and explains
a whole batch in one call.
"""

from ._gradients import DeepLift, InputXGradient, IntegratedGradients, Saliency, SmoothGrad
from ._perturbation import KernelShap, Lime, Occlusion
from ._segments import SegmenterError, grid_labels, segment

__all__ = [
    "DeepLift",
    "InputXGradient",
    "IntegratedGradients",
    "KernelShap",
    "Lime",
    "Occlusion",
    "Saliency",
    "SegmenterError",
    "SmoothGrad",
    "grid_labels",
    "segment",
]
