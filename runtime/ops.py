"""Offloaded operations: what the partitioner claims, and how each one runs on a device.

An :class:`EngineOp` is one engine layer built from one or more ONNX nodes
(a QDQ conv is ``DequantizeLinear -> Conv -> QuantizeLinear``). Its numerics:

* ``INTEGER`` (``ConvInteger``, ``MatMulInteger``): the engine's int32 result
  is the output, bit for bit.
* ``REQUANT`` (``QLinearConv``, ``QLinearMatMul``, QDQ conv/matmul): int32
  from the engine, then ``hls.quant.requantize_host``, which reproduces
  onnxruntime's rounding bit for bit.
* ``FLOAT`` (``Conv``, ``MatMul``, ``Gemm``): operands quantized by
  :mod:`.floatq`, int32 from the engine, dequantized back to float32
  (approximate; the error against the fp32 node is measured when asked).

Operand tensors are named; values are looked up at run time (``get``), so
scales and zero points may be constants or computed tensors. Weights of
conv layers must be constants (the partitioner checks).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper
from winnow.hls import quant
from winnow.hls.regmap import Mode

from . import floatq
from .device import Device
from .floatq import FloatPolicy, RangeSource
from .graph import GraphIndex


class OpKind(enum.Enum):
    CONV = "Conv"
    CONV_INTEGER = "ConvInteger"
    QLINEAR_CONV = "QLinearConv"
    QDQ_CONV = "QDQ Conv"
    MATMUL = "MatMul"
    GEMM = "Gemm"
    MATMUL_INTEGER = "MatMulInteger"
    QLINEAR_MATMUL = "QLinearMatMul"
    QDQ_MATMUL = "QDQ MatMul"


class Numerics(enum.Enum):
    INTEGER = "integer"
    REQUANT = "requant"
    FLOAT = "float"


NUMERICS = {
    OpKind.CONV: Numerics.FLOAT, OpKind.MATMUL: Numerics.FLOAT, OpKind.GEMM: Numerics.FLOAT,
    OpKind.CONV_INTEGER: Numerics.INTEGER, OpKind.MATMUL_INTEGER: Numerics.INTEGER,
    OpKind.QLINEAR_CONV: Numerics.REQUANT, OpKind.QDQ_CONV: Numerics.REQUANT,
    OpKind.QLINEAR_MATMUL: Numerics.REQUANT, OpKind.QDQ_MATMUL: Numerics.REQUANT,
}


@dataclass
class EngineOp:
    """One engine layer. Tensor fields are names (``""``: absent)."""

    kind: OpKind
    mode: Mode
    node: int  # index of the main node (Conv, MatMul, ...)
    fused: tuple[int, ...]  # every node index this op replaces (main node included)
    a: str  # activation (conv input X, GEMM operand A)
    output: str
    b: str = ""  # GEMM operand B, or the conv weight W (always constant for convs)
    conv1x1: bool = False  # a 1x1 conv computed in GEMM mode
    embed: tuple[int, int] | None = None  # a (kh, kw) kernel zero-extended to 3x3
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    a_scale: str = ""
    a_zp: str = ""
    b_scale: str = ""
    b_zp: str = ""
    y_scale: str = ""
    y_zp: str = ""
    y_dtype: np.dtype | None = None
    bias: str = ""  # int32 (requant) or float32 (float conv), per output channel; Gemm: C
    trans_a: bool = False
    trans_b: bool = False
    alpha: float = 1.0
    beta: float = 1.0
    groups: int = 1  # a grouped conv: one engine layer per group, outputs side by side
    note: str = ""  # why the layer was shaped this way (the grouped-conv split decision)

    @property
    def numerics(self) -> Numerics:
        return NUMERICS[self.kind]

    @property
    def inputs(self) -> list[str]:
        """Every tensor the op reads."""
        return [t for t in (self.a, self.b, self.a_scale, self.a_zp, self.b_scale, self.b_zp,
                            self.y_scale, self.y_zp, self.bias) if t]


@dataclass
class OpStats:
    """What one run of an op did."""

    on_engine: bool
    cycles: int = 0
    macs: int = 0
    range_source: RangeSource | None = None
    fallback: str = ""  # why it ran on the host this time (EXACT policy)
    max_abs_err: float | None = None
    cosine: float | None = None


def embed_kernel(w: np.ndarray, zero_point=None) -> np.ndarray:
    """``w[K, C, kh, kw]`` zero-extended to 3x3 (filled with the per-channel zero point)."""
    k, c, kh, kw = w.shape
    z = np.zeros(k, dtype=np.int64) if zero_point is None else np.broadcast_to(
        np.asarray(zero_point).astype(np.int64).reshape(-1), (k,))
    out = np.empty((k, c, 3, 3), dtype=w.dtype)
    out[...] = z.astype(w.dtype)[:, None, None, None]
    out[:, :, :kh, :kw] = w
    return out


def reference_model(index: GraphIndex, node_index: int) -> onnx.ModelProto:
    """A one-node fp32 model of ``node_index`` (constant inputs as initializers)."""
    node = index.nodes[node_index]
    inits, inputs = [], []
    for name in node.input:
        if not name:
            continue
        c = index.const(name)
        if c is not None:
            inits.append(numpy_helper.from_array(c, name))
        else:
            inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(index.dtype(name)), None))
    outs = [helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, None)]
    g = helper.make_graph([node], "reference", inputs, outs, inits)
    return helper.make_model(g, opset_imports=index.model.opset_import,
                             ir_version=index.model.ir_version)


@dataclass
class OpRunner:
    """Runs one :class:`EngineOp` on a device; caches uploaded and quantized weights."""

    op: EngineOp
    index: GraphIndex
    device: Device
    policy: FloatPolicy
    session_factory: Callable  # ModelProto -> onnxruntime.InferenceSession
    _handle: object = None
    _wq: tuple | None = None  # (int8 weights, zero point, float32 scales or None)
    _ref: object = None
    _qbuf: np.ndarray | None = None
    calibrated: dict = field(default_factory=dict)  # tensor -> (rmin, rmax)

    # ---------------------------------------------------------------- helpers
    def _weights(self, get) -> tuple[np.ndarray, object, np.ndarray | None]:
        """Integer weights, zero point, scales (float ops: quantized once)."""
        if self._wq is None:
            op = self.op
            w = get(op.b)
            if op.numerics is Numerics.FLOAT:
                if op.mode is Mode.GEMM and not op.conv1x1:
                    w = w.T if op.trans_b else w
                    q, s, _ = floatq.quantize_weights(w, axis=-1)
                else:
                    q, s, _ = floatq.quantize_weights(w, axis=0)
                    if op.embed:
                        q = embed_kernel(q)
                self._wq = (q, None, s)
            else:
                zp = get(op.b_zp) if op.b_zp else None
                if op.embed:
                    w = embed_kernel(w, zp)
                self._wq = (w, zp, get(op.b_scale) if op.b_scale else None)
        return self._wq

    def _reference(self, get) -> np.ndarray:
        if self._ref is None:
            self._ref = self.session_factory(reference_model(self.index, self.op.node))
        node = self.index.nodes[self.op.node]
        feeds = {i.name: get(i.name) for i in self._ref.get_inputs()}
        return self._ref.run([node.output[0]], feeds)[0]

    def _conv_acc(self, x: np.ndarray, x_zp, w, w_zp) -> tuple[np.ndarray, int, int]:
        """int32 conv of ``x``; a grouped conv runs one engine layer per group."""
        g = self.op.groups
        if g == 1:
            if self._handle is None:
                self._handle = self._load(w, w_zp)
            return self._conv_group(x, x_zp, self._handle, w.shape[0])
        if self._handle is None:
            kg = w.shape[0] // g
            zp = None if w_zp is None else np.asarray(w_zp)
            self._handle = [self._load(w[j * kg:(j + 1) * kg],
                                       zp if zp is None or zp.size == 1 else
                                       zp.reshape(-1)[j * kg:(j + 1) * kg]) for j in range(g)]
        cg, kg = x.shape[1] // g, w.shape[0] // g
        out, cycles, macs = None, 0, 0
        for j, handle in enumerate(self._handle):
            y, cy, mc = self._conv_group(np.ascontiguousarray(x[:, j * cg:(j + 1) * cg]), x_zp,
                                         handle, kg)
            if out is None:
                out = np.empty((y.shape[0], w.shape[0], *y.shape[2:]), dtype=y.dtype)
            out[:, j * kg:(j + 1) * kg] = y  # the engine writes each group at its channel offset
            cycles, macs = cycles + cy, macs + mc
        return out, cycles, macs

    def _load(self, w, w_zp):
        if not self.op.conv1x1:
            return self.device.load_conv_weights(w, w_zp), w_zp
        k, c = w.shape[:2]
        return np.ascontiguousarray(w.reshape(k, c).T), w_zp

    def _conv_group(self, x, x_zp, handle, k) -> tuple[np.ndarray, int, int]:
        h, w_zp = handle
        if not self.op.conv1x1:
            r = self.device.conv(x, h, x_zp, self.op.pads)
            return r.y, r.cycles, r.macs
        n, c, hh, wd = x.shape
        a = x.transpose(0, 2, 3, 1).reshape(-1, c)
        r = self.device.gemm(a, h, x_zp, w_zp)
        return r.y.reshape(n, hh, wd, k).transpose(0, 3, 1, 2), r.cycles, r.macs

    # ---------------------------------------------------------------- run
    def run(self, get: Callable[[str], np.ndarray], check: bool) -> tuple[np.ndarray, OpStats]:
        """The op's output given ``get(name) -> array``; ``check`` measures float error."""
        op = self.op
        if op.numerics is not Numerics.FLOAT:
            return self._run_quantized(get)
        y, stats = self._run_float(get)
        if check and stats.on_engine:
            ref = self._reference(get)
            d = y.astype(np.float64) - ref
            stats.max_abs_err = float(np.max(np.abs(d))) if d.size else 0.0
            den = float(np.linalg.norm(y.astype(np.float64)) * np.linalg.norm(ref))
            stats.cosine = float(np.vdot(y.astype(np.float64), ref) / den) if den else (
                1.0 if not np.any(d) else 0.0)
        return y, stats

    def _run_quantized(self, get) -> tuple[np.ndarray, OpStats]:
        op = self.op
        x = get(op.a)
        x_zp = get(op.a_zp) if op.a_zp else None
        if op.mode is Mode.CONV or op.conv1x1:
            w, w_zp, w_scale = self._weights(get)
            acc, cycles, macs = self._conv_acc(x, x_zp, w, w_zp)
            axis = 1
        else:
            b = get(op.b)
            b_zp = get(op.b_zp) if op.b_zp else None
            r = self.device.gemm(x, b, x_zp, b_zp)
            acc, cycles, macs = r.y, r.cycles, r.macs
            w_scale = get(op.b_scale) if op.b_scale else None
            axis = -1
        if op.numerics is Numerics.INTEGER:
            return acc, OpStats(True, cycles, macs)
        bias = get(op.bias) if op.bias else None
        y = quant.requantize_host(acc, get(op.a_scale), w_scale, get(op.y_scale),
                                  get(op.y_zp) if op.y_zp else 0, op.y_dtype, bias, axis)
        return y, OpStats(True, cycles, macs)

    def _run_float(self, get) -> tuple[np.ndarray, OpStats]:
        op = self.op
        x = get(op.a)
        if op.kind is OpKind.GEMM and op.trans_a:
            x = x.T
        xp, src = floatq.activation_params(x, False, self.calibrated.get(op.a))
        if self.policy is FloatPolicy.EXACT and src is not RangeSource.LOSSLESS:
            return self._reference(get), OpStats(
                False, fallback=f"input {op.a!r} is not integer-valued in int8/uint8 range "
                                "(exact policy)")
        xq = floatq.quantize(x, xp, self._buffer(x.shape))
        const_b = self.index.const(op.b) is not None
        if op.mode is Mode.CONV or op.conv1x1 or const_b:
            w, _, ws = self._weights(get)
            if op.mode is Mode.CONV or op.conv1x1:
                acc, cycles, macs = self._conv_acc(xq, xp.zero_point, w, None)
            else:
                r = self.device.gemm(xq, w, xp.zero_point, None)
                acc, cycles, macs = r.y, r.cycles, r.macs
        else:
            b = get(op.b)
            if op.trans_b:
                b = b.T
            bp, bsrc = floatq.activation_params(b, True, self.calibrated.get(op.b))
            if self.policy is FloatPolicy.EXACT and bsrc is not RangeSource.LOSSLESS:
                return self._reference(get), OpStats(
                    False, fallback=f"input {op.b!r} is not integer-valued in int8 range "
                                    "(exact policy)")
            r = self.device.gemm(xq, bp.quantize(b), xp.zero_point, bp.zero_point)
            acc, cycles, macs = r.y, r.cycles, r.macs
            ws = np.float32(bp.scale)
            src = src if src is bsrc else RangeSource.DYNAMIC if RangeSource.DYNAMIC in (
                src, bsrc) else RangeSource.CALIBRATION
        # Dequantize in float32, in place: int32 -> float32 is the only rounding (|acc| > 2**24).
        scale = np.float64(xp.scale) * np.asarray(ws, dtype=np.float64)
        y = np.empty(acc.shape, dtype=np.float32)
        if op.mode is Mode.CONV or op.conv1x1:
            np.multiply(acc, scale.astype(np.float32).reshape(-1, 1, 1), out=y)
            if op.bias:
                y += get(op.bias).astype(np.float32).reshape(-1, 1, 1)
        else:
            if op.kind is OpKind.GEMM:
                scale = scale * op.alpha
            np.multiply(acc, scale.astype(np.float32), out=y)
            if op.kind is OpKind.GEMM and op.bias and op.beta:
                y += (op.beta * get(op.bias).astype(np.float64)).astype(np.float32)
        return y, OpStats(True, cycles, macs, src)

    def _buffer(self, shape: tuple) -> np.ndarray:
        """A float32 work buffer of ``shape``, reused across runs (no fresh page faults)."""
        if self._qbuf is None or self._qbuf.shape != shape:
            self._qbuf = np.empty(shape, dtype=np.float32)
        return self._qbuf
