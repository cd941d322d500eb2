"""Training and export helpers shared by the model scripts (needs the ``models`` extra: torch).

Every script seeds with :func:`seed_all` and exports with :func:`export_onnx`
(legacy TorchScript exporter, opset 17, weights inside the file, batch axis
dynamic), which also checks onnxruntime against torch on the example input.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ONNX_DIR = HERE / "onnx"
DATA_DIR = HERE / "data"
OPSET = 17


def seed_all(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; limit torch to 2 threads; return a seeded generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    return torch.Generator().manual_seed(seed)


def export_onnx(model: torch.nn.Module, example: tuple, name: str, input_names: list[str],
                output_names: list[str], dynamic: dict | None = None, atol: float = 1e-4) -> Path:
    """Export ``model`` to ``models/onnx/<name>.onnx`` and check onnxruntime agrees with torch.

    ``dynamic``: ONNX ``dynamic_axes`` (default: axis 0 of every input and output
    is ``batch``). Raises ``AssertionError`` when onnxruntime's outputs differ
    from torch's by more than ``atol``.
    """
    import onnx
    import onnxruntime as ort

    ONNX_DIR.mkdir(exist_ok=True)
    path = ONNX_DIR / f"{name}.onnx"
    if dynamic is None:
        dynamic = {n: {0: "batch"} for n in input_names + output_names}
    model.eval()
    with torch.no_grad():
        ref = model(*example)
    ref = ref if isinstance(ref, tuple | list) else (ref,)
    torch.onnx.export(model, example, str(path), dynamo=False, opset_version=OPSET,
                      input_names=input_names, output_names=output_names, dynamic_axes=dynamic,
                      do_constant_folding=True)
    m = onnx.load(str(path))
    m.graph.name = name
    m.producer_version = ""  # no torch version churn in the committed file beyond the exporter
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {n: t.numpy() for n, t in zip(input_names, example, strict=True)})
    for o, r in zip(outs, ref, strict=True):
        err = float(np.max(np.abs(o - r.numpy()))) if o.size else 0.0
        assert err <= atol, f"{name}: onnxruntime differs from torch by {err:.3g} (> {atol})"
    return path


def save_data(name: str, **arrays: np.ndarray) -> Path:
    """Evaluation data (feeds, labels) the numpy-only evaluation reads: ``models/data/<name>.npz``."""
    DATA_DIR.mkdir(exist_ok=True)
    path = DATA_DIR / f"{name}.npz"
    np.savez_compressed(path, **arrays)
    return path
