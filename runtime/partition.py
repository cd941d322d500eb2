"""The partitioner: for every node, does the engine take it, and if not, why not.

Offloaded (see DESIGN.md): 2-D ``Conv`` 3x3 stride 1 dilation 1 group 1 with
any padding up to 2 (float, quantized on the fly), ``ConvInteger`` and
``QLinearConv`` of that shape, QDQ-wrapped convs (``DequantizeLinear -> Conv
-> QuantizeLinear`` as written by ``onnxruntime.quantization``), 1x1 stride-1
unpadded convs of all these kinds in GEMM mode, ``MatMul``/``Gemm`` (also of
two activations), ``MatMulInteger``, ``QLinearMatMul`` and QDQ MatMul.
Grouped convs of these kinds (each group an engine-shaped conv) run as one
engine layer per group when the cycle model says that beats the host
(:mod:`.cost`; depthwise convs usually do not); the detail says why.

Every other node runs on the host with a :class:`Reason`. Float layers fed
by ``DequantizeLinear`` that are not a complete QDQ pattern stay on the host
(``QDQ_INCOMPLETE``) so quantized models stay bit-exact with onnxruntime.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import onnx
from winnow.hls.config import EngineConfig
from winnow.hls.regmap import Mode

from .cost import group_split
from .floatq import FloatPolicy, lossless_weights
from .graph import GraphIndex, attrs
from .ops import EngineOp, OpKind

_I8 = (np.dtype(np.int8), np.dtype(np.uint8))
_CONV_KINDS = (OpKind.CONV, OpKind.CONV_INTEGER, OpKind.QLINEAR_CONV, OpKind.QDQ_CONV)
_F32 = np.dtype(np.float32)
INT32_MAX = (1 << 31) - 1


class Target(enum.Enum):
    ENGINE = "engine"
    HOST = "host"


class Reason(enum.Enum):
    """Why a node is (or is not) on the engine."""

    OFFLOADED = "offloaded"  #: the node is an engine layer
    FUSED = "fused"  #: part of an engine layer (the Q/DQ nodes of a QDQ conv)
    OP_TYPE = "op type"  #: the engine has no such operation
    KERNEL = "kernel"  #: kernel not 3x3 (or 1x1 for GEMM mode), or not 2-D
    STRIDE = "stride"
    DILATION = "dilation"
    GROUPS = "groups"
    DTYPE = "dtype"  #: element type the engine does not take (fp16, fp64, int16...)
    SIZE = "size"  #: shape the engine cannot hold (int32 overflow, 1-D operands, unknown rank)
    ATTRIBUTE = "unsupported attribute"  #: e.g. padding >= 3, padding on a 1x1 conv
    NON_CONSTANT = "non-constant weights"  #: conv weights computed at run time
    WEIGHT_RANGE = "weight range"  #: ``w - w_zero_point`` outside [-128, 127]
    ZERO_POINT = "zero point"  #: per-row activation zero points, per-channel scales on A
    QDQ_INCOMPLETE = "QDQ pattern"  #: float layer between Q/DQ nodes that is not a full pattern
    LOSSY = "lossy"  #: float weights not exactly representable (EXACT policy)
    POLICY = "policy"  #: float layers kept on the host by the session's policy


@dataclass
class Placement:
    """Where one node runs and why."""

    index: int
    name: str
    op_type: str
    target: Target
    reason: Reason
    detail: str
    op: EngineOp | None = None  # the engine layer this node is (part of)

    def as_dict(self) -> dict:
        return {"node": self.name, "op_type": self.op_type, "target": self.target.value,
                "reason": self.reason.value, "detail": self.detail}


class Rejected(Exception):
    """Internal: a node does not fit the engine."""

    def __init__(self, reason: Reason, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _require(cond: bool, reason: Reason, detail: str) -> None:
    if not cond:
        raise Rejected(reason, detail)


# --------------------------------------------------------------------- conv shape checks

def _conv_geometry(node: onnx.NodeProto, w: np.ndarray
                   ) -> tuple[bool, tuple[int, int, int, int], tuple[int, int] | None]:
    """``(is_1x1_gemm, pads, embed)`` for an engine-shaped conv, else :class:`Rejected`.

    A kernel smaller than 3x3 (2x2, 1x3, a padded 1x1...) runs as a 3x3 conv whose
    extra taps are zero (``embed`` is its ``(kh, kw)``; bottom/right pads grow by
    ``3 - kh``/``3 - kw``): exact, at 9/(kh*kw) the multiplies. An unpadded 1x1
    runs in GEMM mode instead.
    """
    a = attrs(node)
    _require(w.ndim == 4, Reason.KERNEL, f"{w.ndim - 2}-D convolution; the engine does 2-D only")
    kh, kw = (int(v) for v in w.shape[2:])
    ks = tuple(a.get("kernel_shape", (kh, kw)))
    _require(kh <= 3 and kw <= 3, Reason.KERNEL,
             f"kernel {kh}x{kw}; the engine does 3x3 (Winograd, smaller kernels zero-extended)")
    st = tuple(a.get("strides", (1, 1)))
    _require(st == (1, 1), Reason.STRIDE, f"strides {st}; the engine needs (1, 1)")
    dl = tuple(a.get("dilations", (1, 1)))
    _require(dl == (1, 1) or ks == (1, 1), Reason.DILATION,
             f"dilations {dl}; the engine needs (1, 1)")
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        th, tw = kh - 1, kw - 1  # total padding for stride 1
        small = (th // 2, tw // 2)
        big = (th - small[0], tw - small[1])
        lo, hi = (small, big) if auto == "SAME_UPPER" else (big, small)
        pads = (lo[0], lo[1], hi[0], hi[1])
    elif auto == "VALID":
        pads = (0, 0, 0, 0)
    else:
        pp = tuple(int(v) for v in a.get("pads", (0, 0, 0, 0)))
        pads = (pp[0], pp[1], pp[2], pp[3])
    if (kh, kw) == (1, 1) and pads == (0, 0, 0, 0):
        return True, pads, None
    embed = None if (kh, kw) == (3, 3) else (kh, kw)
    pads = (pads[0], pads[1], pads[2] + 3 - kh, pads[3] + 3 - kw)
    _require(max(pads) <= 2, Reason.ATTRIBUTE,
             f"pads {pads} (as a 3x3 kernel); the engine supports padding 0..2 on each side")
    return False, pads, embed


def _grouping(index: GraphIndex, node: onnx.NodeProto, w: np.ndarray, is_1x1: bool,
              pads: tuple[int, int, int, int], config: EngineConfig | None) -> tuple[int, str]:
    """``(groups, why)`` for a conv: 1, or a split that pays (:mod:`.cost`); else Rejected."""
    g = int(attrs(node).get("group", 1))
    if g == 1:
        return 1, ""
    k, cg = int(w.shape[0]), int(w.shape[1])
    _require(g > 1 and k % g == 0, Reason.GROUPS, f"group={g} does not divide K={k}")
    sh = index.shape(node.input[0]) or (None,) * 4
    _require(len(sh) == 4, Reason.KERNEL, "input is not 4-D")
    n, c, h, wd = sh
    _require(c is None or not isinstance(c, int) or c == g * cg, Reason.GROUPS,
             f"group={g} with {cg} weight channels does not match C={c}")
    ks = "1x1 as GEMM" if is_1x1 else "3x3"
    split = group_split(n, g * cg, k, h, wd, g, is_1x1, pads, config)
    why = split.explain(g * cg, k, ks)
    _require(split.pays, Reason.GROUPS, why + (" (depthwise)" if cg == 1 else ""))
    return g, why


def _conv_overflow(c: int, kernel: int) -> None:
    worst = c * kernel * kernel * 255 * 128
    _require(worst <= INT32_MAX, Reason.SIZE,
             f"C={c}: worst-case sum {worst} exceeds int32")


def _weight_range(w: np.ndarray, zp, is_1x1: bool) -> None:
    if is_1x1:
        return
    z = np.zeros(w.shape[0], dtype=np.int64) if zp is None else np.broadcast_to(
        np.asarray(zp, dtype=np.int64).reshape(-1), (w.shape[0],))
    g = w.astype(np.int64) - z[:, None, None, None]
    _require(g.min() >= -128 and g.max() <= 127, Reason.WEIGHT_RANGE,
             f"w - w_zero_point spans [{g.min()}, {g.max()}]; the Winograd weight transform "
             "needs [-128, 127]")


def _int8(index: GraphIndex, name: str, what: str) -> None:
    dt = index.dtype(name)
    _require(dt in _I8, Reason.DTYPE, f"{what} {name!r} is {dt}; the engine takes int8/uint8")


def _scalar(index: GraphIndex, name: str, what: str) -> None:
    if not name:
        return
    sh = index.shape(name)
    _require(sh is not None and int(np.prod([d if isinstance(d, int) else 2 for d in sh])) == 1,
             Reason.ZERO_POINT, f"{what} {name!r} must be per-tensor, has shape {sh}")


# --------------------------------------------------------------------- matchers

def _dq_fed(index: GraphIndex, node: onnx.NodeProto) -> bool:
    return any((p := index.producer_node(i)) is not None and p.op_type == "DequantizeLinear"
               for i in node.input if i)


def _match_conv(index: GraphIndex, i: int, policy: FloatPolicy) -> EngineOp:
    node = index.nodes[i]
    if _dq_fed(index, node):
        return _match_qdq(index, i, conv=True)
    _require(index.dtype(node.input[0]) == _F32, Reason.DTYPE,
             f"X is {index.dtype(node.input[0])}; float convs are offloaded from float32")
    w = index.const(node.input[1])
    _require(w is not None, Reason.NON_CONSTANT, f"weights {node.input[1]!r} are not a constant")
    is_1x1, pads, embed = _conv_geometry(node, w)
    _conv_overflow(w.shape[1], 1 if is_1x1 else 3)
    _require(policy is not FloatPolicy.HOST, Reason.POLICY, "float layers kept on the host")
    if policy is FloatPolicy.EXACT:
        _require(lossless_weights(w) is not None, Reason.LOSSY,
                 "weights are not integers in [-127, 127] (exact policy)")
    bias = node.input[2] if len(node.input) > 2 else ""
    return EngineOp(OpKind.CONV, Mode.GEMM if is_1x1 else Mode.CONV, i, (i,), node.input[0],
                    node.output[0], b=node.input[1], conv1x1=is_1x1, pads=pads, embed=embed, bias=bias)


def _match_conv_integer(index: GraphIndex, i: int) -> EngineOp:
    node = index.nodes[i]
    qlinear = node.op_type == "QLinearConv"
    x, w_name = node.input[0], node.input[3 if qlinear else 1]
    _int8(index, x, "X")
    w = index.const(w_name)
    _require(w is not None, Reason.NON_CONSTANT, f"weights {w_name!r} are not a constant")
    _require(w.dtype in _I8, Reason.DTYPE, f"W is {w.dtype}; the engine takes int8/uint8")
    is_1x1, pads, embed = _conv_geometry(node, w)
    _conv_overflow(w.shape[1], 1 if is_1x1 else 3)
    inp = list(node.input) + [""] * 9
    if qlinear:
        w_zp = inp[5]
        _scalar(index, inp[2], "x_zero_point")
        op = EngineOp(OpKind.QLINEAR_CONV, Mode.GEMM if is_1x1 else Mode.CONV, i, (i,), x,
                      node.output[0], b=w_name, conv1x1=is_1x1, pads=pads, embed=embed, a_scale=inp[1],
                      a_zp=inp[2], b_scale=inp[4], b_zp=w_zp, y_scale=inp[6], y_zp=inp[7],
                      y_dtype=index.dtype(inp[7]) if inp[7] else index.dtype(x), bias=inp[8])
    else:
        w_zp = inp[3]
        _scalar(index, inp[2], "x_zero_point")
        op = EngineOp(OpKind.CONV_INTEGER, Mode.GEMM if is_1x1 else Mode.CONV, i, (i,), x,
                      node.output[0], b=w_name, conv1x1=is_1x1, pads=pads, embed=embed, a_zp=inp[2],
                      b_zp=w_zp)
    if w_zp:
        _require(index.const(w_zp) is not None, Reason.NON_CONSTANT,
                 f"w_zero_point {w_zp!r} is not a constant")
    _weight_range(w, index.const(w_zp) if w_zp else None, is_1x1)
    return op


def _dq_parts(index: GraphIndex, tensor: str, what: str) -> tuple[onnx.NodeProto, list[str]]:
    dq = index.producer_node(tensor)
    _require(dq is not None and dq.op_type == "DequantizeLinear", Reason.QDQ_INCOMPLETE,
             f"{what} {tensor!r} does not come from DequantizeLinear")
    return dq, list(dq.input) + [""] * (3 - len(dq.input))


def _match_qdq(index: GraphIndex, i: int, conv: bool) -> EngineOp:
    """``DQ(x), DQ(w)[, DQ(bias)] -> Conv/MatMul -> Q`` as onnxruntime fuses it."""
    node = index.nodes[i]
    kind = "conv" if conv else "matmul"
    out = node.output[0]
    cons = index.consumers.get(out, [])
    q = index.nodes[cons[0]] if len(cons) == 1 else None
    _require(q is not None and q.op_type == "QuantizeLinear" and out not in index.outputs,
             Reason.QDQ_INCOMPLETE,
             f"the {kind} output is not consumed only by QuantizeLinear (not a full QDQ pattern)")
    dx, (xq, xs, xzp) = _dq_parts(index, node.input[0], "X")
    dw, (wq, ws, wzp) = _dq_parts(index, node.input[1], "W" if conv else "B")
    _int8(index, xq, "quantized X")
    _int8(index, wq, "quantized W")
    _scalar(index, xs, "x_scale")
    _scalar(index, xzp, "x_zero_point")
    qi = list(q.input) + [""] * (3 - len(q.input))
    _scalar(index, qi[1], "y_scale")
    y_dtype = index.dtype(qi[2]) if qi[2] else np.dtype(np.uint8)
    _require(y_dtype in _I8, Reason.DTYPE, f"QuantizeLinear output is {y_dtype}")
    _require(y_dtype == index.dtype(xq), Reason.QDQ_INCOMPLETE,
             f"input {index.dtype(xq)} and output {y_dtype} types differ (onnxruntime keeps "
             "this on float)")
    fused = [i, cons[0]]
    for t in (node.input[0], node.input[1]):
        if index.only_consumer(t, i):
            fused.append(index.producer[t])
    bias = ""
    if conv:
        w = index.const(wq)
        _require(w is not None, Reason.NON_CONSTANT, f"weights {wq!r} are not a constant")
        if index.dtype(xq) == np.dtype(np.int8):
            _require(w.dtype == np.dtype(np.int8), Reason.QDQ_INCOMPLETE,
                     "int8 activations with uint8 weights (onnxruntime keeps this on float)")
        is_1x1, pads, embed = _conv_geometry(node, w)
        _conv_overflow(w.shape[1], 1 if is_1x1 else 3)
        axis = attrs(dw).get("axis", 1)
        if index.const(ws) is not None and index.const(ws).size > 1:
            _require(axis == 0, Reason.ZERO_POINT, f"weight scales along axis {axis}, not 0")
        _weight_range(w, index.const(wzp) if wzp else None, is_1x1)
        if len(node.input) > 2 and node.input[2]:
            db, (bq, _, _) = _dq_parts(index, node.input[2], "bias")
            _require(index.const(bq) is not None and index.const(bq).dtype == np.int32,
                     Reason.QDQ_INCOMPLETE, "bias is not a constant int32 DequantizeLinear")
            bias = bq
            if index.only_consumer(node.input[2], i):
                fused.append(index.producer[node.input[2]])
        return EngineOp(OpKind.QDQ_CONV, Mode.GEMM if is_1x1 else Mode.CONV, i, tuple(fused),
                        xq, q.output[0], b=wq, conv1x1=is_1x1, pads=pads, embed=embed, a_scale=xs,
                        a_zp=xzp, b_scale=ws, b_zp=wzp, y_scale=qi[1], y_zp=qi[2],
                        y_dtype=y_dtype, bias=bias)
    _gemm_ranks(index, xq, wq)
    if index.const(wq) is None:
        _scalar(index, wzp, "B zero point")
    return EngineOp(OpKind.QDQ_MATMUL, Mode.GEMM, i, tuple(fused), xq, q.output[0], b=wq,
                    a_scale=xs, a_zp=xzp, b_scale=ws, b_zp=wzp, y_scale=qi[1], y_zp=qi[2],
                    y_dtype=y_dtype)


def _gemm_ranks(index: GraphIndex, a: str, b: str) -> None:
    for name, what in ((a, "A"), (b, "B")):
        sh = index.shape(name)
        _require(sh is not None, Reason.SIZE, f"rank of {what} {name!r} is unknown")
        _require(len(sh) >= 2, Reason.SIZE, f"{what} {name!r} is {len(sh)}-D; GEMM mode needs"
                 " 2-D or batched operands")
    kd = index.shape(a)[-1]
    if isinstance(kd, int):
        _require(kd * 255 * 255 <= INT32_MAX, Reason.SIZE,
                 f"inner dimension {kd}: worst-case sum exceeds int32")


def _match_matmul(index: GraphIndex, i: int, policy: FloatPolicy) -> EngineOp:
    node = index.nodes[i]
    if _dq_fed(index, node):
        return _match_qdq(index, i, conv=False)
    a, b = node.input[0], node.input[1]
    for t in (a, b):
        _require(index.dtype(t) == _F32, Reason.DTYPE, f"{t!r} is {index.dtype(t)}; float "
                 "MatMul is offloaded from float32")
    _gemm_ranks(index, a, b)
    _float_policy(index, b, policy)
    return EngineOp(OpKind.MATMUL, Mode.GEMM, i, (i,), a, node.output[0], b=b)


def _float_policy(index: GraphIndex, w: str, policy: FloatPolicy) -> None:
    _require(policy is not FloatPolicy.HOST, Reason.POLICY, "float layers kept on the host")
    c = index.const(w)
    if policy is FloatPolicy.EXACT and c is not None:
        _require(lossless_weights(c, -1) is not None, Reason.LOSSY,
                 "weights are not integers in [-127, 127] (exact policy)")


def _match_gemm(index: GraphIndex, i: int, policy: FloatPolicy) -> EngineOp:
    node = index.nodes[i]
    _require(not _dq_fed(index, node), Reason.QDQ_INCOMPLETE,
             "Gemm between Q/DQ nodes (onnxruntime runs it as QGemm); kept on the host")
    a_, b_ = node.input[0], node.input[1]
    for t in (a_, b_):
        _require(index.dtype(t) == _F32, Reason.DTYPE, f"{t!r} is {index.dtype(t)}; float "
                 "Gemm is offloaded from float32")
    _gemm_ranks(index, a_, b_)
    at = attrs(node)
    _float_policy(index, b_, policy)
    return EngineOp(OpKind.GEMM, Mode.GEMM, i, (i,), a_, node.output[0], b=b_,
                    bias=node.input[2] if len(node.input) > 2 else "",
                    trans_a=bool(at.get("transA", 0)), trans_b=bool(at.get("transB", 0)),
                    alpha=float(at.get("alpha", 1.0)), beta=float(at.get("beta", 1.0)))


def _match_matmul_integer(index: GraphIndex, i: int) -> EngineOp:
    node = index.nodes[i]
    qlinear = node.op_type == "QLinearMatMul"
    inp = list(node.input) + [""] * 8
    a, b = (inp[0], inp[3]) if qlinear else (inp[0], inp[1])
    _int8(index, a, "A")
    _int8(index, b, "B")
    _gemm_ranks(index, a, b)
    if qlinear:
        _scalar(index, inp[1], "a_scale")
        _scalar(index, inp[2], "a_zero_point")
        _scalar(index, inp[6], "y_scale")
        return EngineOp(OpKind.QLINEAR_MATMUL, Mode.GEMM, i, (i,), a, node.output[0], b=b,
                        a_scale=inp[1], a_zp=inp[2], b_scale=inp[4], b_zp=inp[5],
                        y_scale=inp[6], y_zp=inp[7],
                        y_dtype=index.dtype(inp[7]) if inp[7] else np.dtype(np.uint8))
    _scalar(index, inp[2], "a_zero_point")
    return EngineOp(OpKind.MATMUL_INTEGER, Mode.GEMM, i, (i,), a, node.output[0], b=b,
                    a_zp=inp[2], b_zp=inp[3])


def _match(index: GraphIndex, i: int, policy: FloatPolicy,
           config: EngineConfig | None = None) -> EngineOp:
    node = index.nodes[i]
    op = node.op_type
    _require(node.domain in ("", "ai.onnx"), Reason.OP_TYPE,
             f"{node.domain}.{op} is a custom-domain op; the host runs it")
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        eop = (_match_conv(index, i, policy) if op == "Conv"
               else _match_conv_integer(index, i))
        if eop.kind in _CONV_KINDS:
            eop.groups, eop.note = _grouping(index, node, index.const(eop.b), eop.conv1x1,
                                             eop.pads, config)
        return eop
    if op == "MatMul":
        return _match_matmul(index, i, policy)
    if op == "Gemm":
        return _match_gemm(index, i, policy)
    if op in ("MatMulInteger", "QLinearMatMul"):
        return _match_matmul_integer(index, i)
    raise Rejected(Reason.OP_TYPE, f"no engine operation for {op}")


def partition(index: GraphIndex, policy: FloatPolicy = FloatPolicy.QUANTIZE,
              config: EngineConfig | None = None, host_nodes=()) -> list[Placement]:
    """A :class:`Placement` for every node of ``index`` (in graph order).

    ``config`` is the engine the grouped-conv split rule (:mod:`.cost`) plans for;
    ``host_nodes`` are node names the caller keeps on the host (reason ``policy``).
    """
    keep = set(host_nodes)
    unknown = keep - set(index.node_names)
    if unknown:
        from .errors import WinnowModelError
        raise WinnowModelError(f"host_nodes {sorted(unknown)} are not nodes of the model")
    placements: list[Placement | None] = [None] * len(index.nodes)
    for i, node in enumerate(index.nodes):
        if placements[i] is not None:
            continue
        try:
            _require(index.node_names[i] not in keep, Reason.POLICY,
                     "kept on the host by the caller (host_nodes)")
            op = _match(index, i, policy, config)
        except Rejected as r:
            placements[i] = Placement(i, index.node_names[i], node.op_type, Target.HOST,
                                      r.reason, r.detail)
            continue
        if any(placements[j] is not None and placements[j].target is Target.ENGINE
               for j in op.fused if j != i):
            placements[i] = Placement(i, index.node_names[i], node.op_type, Target.HOST,
                                      Reason.QDQ_INCOMPLETE, "shares Q/DQ nodes with another "
                                      "engine layer")
            continue
        detail = f"{op.kind.value} in {op.mode.name} mode" + (" (1x1 as GEMM)" if op.conv1x1
                                                               else "")
        if op.note:
            detail += f"; {op.note}"
        for j in op.fused:
            if j == i:
                placements[j] = Placement(j, index.node_names[j], node.op_type, Target.ENGINE,
                                          Reason.OFFLOADED, detail, op)
            else:
                placements[j] = Placement(j, index.node_names[j], index.nodes[j].op_type,
                                          Target.ENGINE, Reason.FUSED,
                                          f"part of {index.node_names[i]} ({op.kind.value})", op)
    return placements  # type: ignore[return-value]
