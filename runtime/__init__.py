"""winnow.runtime: run ONNX models with the engine's layers offloaded (see DESIGN.md).

Public API: :class:`Session`, :class:`DeviceKind`, :func:`open_device`,
:class:`FloatPolicy`, :func:`partition` with :class:`Reason` / :class:`Target`.
"""

from .device import Device, DeviceKind, EmuDevice, open_device
from .errors import WinnowCalibrationError, WinnowDeviceError, WinnowInputError, WinnowModelError
from .floatq import FloatPolicy
from .graph import GraphIndex, load_model
from .partition import Placement, Reason, Target, partition
from .report import Report
from .session import Session

__all__ = [
    "Device", "DeviceKind", "EmuDevice", "FloatPolicy", "GraphIndex", "Placement", "Reason",
    "Report", "Session", "Target", "WinnowCalibrationError", "WinnowDeviceError",
    "WinnowInputError", "WinnowModelError", "load_model", "open_device", "partition",
]
