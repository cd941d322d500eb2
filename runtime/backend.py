"""An ``onnx.backend.base.Backend`` for Winnow, so ``onnx.backend.test`` runs through the runtime.

``WinnowBackend.prepare(model)`` gives a rep whose ``run(inputs)`` goes through
:class:`~.session.Session` on the ``emu`` device with the ``EXACT`` float
policy: the conformance tests compare float outputs at rtol 1e-3, so a float
layer goes to the engine only when its data are integer-valued (lossless),
and quantized layers always do (bit-exact).

Node tests feed conv weights (and their scales and zero points) as graph
inputs. The engine takes constant weights, uploaded once, as a driver would;
so the rep binds those inputs as initializers at run time (one session per
distinct set of weight values, cached by content).
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.base import Backend, BackendRep

from .floatq import FloatPolicy
from .session import Session

#: Inputs of conv-family nodes that the engine needs as constants (by input position).
_WEIGHT_SLOTS = {"Conv": (1,), "ConvInteger": (1, 3), "QLinearConv": (3, 4, 5)}


def weight_inputs(model: onnx.ModelProto) -> list[str]:
    """Graph inputs that feed a conv's weights, weight scales or weight zero points."""
    graph_inputs = {i.name for i in model.graph.input} - {t.name for t in model.graph.initializer}
    out = []
    for n in model.graph.node:
        for pos in _WEIGHT_SLOTS.get(n.op_type, ()):
            if pos < len(n.input) and n.input[pos] in graph_inputs and n.input[pos] not in out:
                out.append(n.input[pos])
    return out


class WinnowRep(BackendRep):
    """A prepared model; ``offloaded`` lists the nodes that ran on the engine (last run)."""

    def __init__(self, model: onnx.ModelProto, device: str = "emu"):
        super().__init__()
        self.model = model
        self.device = device
        self.frozen = weight_inputs(model)
        self.input_names = [i.name for i in model.graph.input
                            if i.name not in {t.name for t in model.graph.initializer}]
        self._sessions: dict[str, Session] = {}
        self.session: Session | None = None if self.frozen else self._make(model)

    def _make(self, model: onnx.ModelProto) -> Session:
        return Session(model, device=self.device, policy=FloatPolicy.EXACT, check=False)

    def _bound(self, feeds: dict[str, np.ndarray]) -> Session:
        h = hashlib.sha256()
        for name in self.frozen:
            a = feeds[name]
            h.update(f"{name}:{a.dtype}:{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        key = h.hexdigest()
        if key not in self._sessions:
            m = onnx.ModelProto()
            m.CopyFrom(self.model)
            keep = [i for i in m.graph.input if i.name not in self.frozen]
            del m.graph.input[:]
            m.graph.input.extend(keep)
            m.graph.initializer.extend(numpy_helper.from_array(feeds[n], n) for n in self.frozen)
            self._sessions[key] = self._make(m)
        return self._sessions[key]

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            feeds = {k: np.asarray(v) for k, v in inputs.items()}
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            feeds = {n: np.asarray(v) for n, v in zip(self.input_names, inputs, strict=False)}
        sess = self.session
        if self.frozen:
            sess = self._bound(feeds)
            feeds = {k: v for k, v in feeds.items() if k not in self.frozen}
        self.session = sess
        return tuple(sess.run(None, feeds))

    @property
    def offloaded(self) -> list[str]:
        """Op types of the engine layers that ran on the engine in the last run."""
        if self.session is None:
            return []
        return [r.op_type for r in self.session.report().nodes
                if r.reason == "offloaded" and r.runs > r.host_fallbacks]


class WinnowBackend(Backend):
    """Backend over the Winnow runtime (``emu`` device)."""

    #: test-model graph name -> op types that ran on the engine (filled by ``run``)
    offload_log: dict[str, list[str]] = {}

    @classmethod
    def is_compatible(cls, model, device: str = "CPU", **kwargs) -> bool:
        return True

    @classmethod
    def prepare(cls, model, device: str = "CPU", **kwargs) -> WinnowRep:
        super().prepare(model, device, **kwargs)
        return _LoggingRep(model, cls.offload_log)

    @classmethod
    def run_node(cls, node, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        raise NotImplementedError("Winnow runs whole models; use prepare(model).run(inputs)")

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"


class _LoggingRep(WinnowRep):
    def __init__(self, model, log):
        super().__init__(model)
        self._log = log

    def run(self, inputs, **kwargs):
        out = super().run(inputs, **kwargs)
        self._log[self.model.graph.name] = self.offloaded
        return out


prepare = WinnowBackend.prepare
run_model = WinnowBackend.run_model
supports_device = WinnowBackend.supports_device
