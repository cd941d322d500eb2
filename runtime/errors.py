"""Typed errors of the offload runtime. Each message names the problem and what would be right."""

from winnow.hls.errors import WinnowError


class WinnowModelError(WinnowError, ValueError):
    """The model cannot be read, is not valid ONNX, or uses something the runtime cannot cut."""


class WinnowInputError(WinnowError, ValueError):
    """Feeds do not match the model: missing or extra names, wrong dtype, wrong shape."""


class WinnowCalibrationError(WinnowError, ValueError):
    """Calibration data does not match the model's inputs (names, dtype, shape)."""


class WinnowDeviceError(WinnowError, RuntimeError):
    """A device was asked for something it cannot do (unknown kind, unloaded weights)."""
