"""Cutting the graph: an execution schedule of host segments and engine layers.

Units are engine layers (:class:`~.ops.EngineOp`) and host nodes. They are
ordered topologically, greedily: ready engine layers run first, and once a
host segment is open it takes every host node that becomes ready, so host
segments are as large (and as few) as the data flow allows. Each host segment
becomes a standalone ONNX model (its nodes, the initializers they read, and
as outputs every tensor a later step or the caller needs) run by one
onnxruntime session. Shapes are left open, so dynamic batch works.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper

from .graph import GraphIndex, subgraph_inputs
from .ops import EngineOp
from .partition import Placement, Target


@dataclass
class HostStep:
    """Host nodes (indices, in execution order) run as one onnxruntime session."""

    nodes: tuple[int, ...]
    inputs: list[str] = field(default_factory=list)  # runtime tensors fed to the session
    outputs: list[str] = field(default_factory=list)  # tensors later steps or the caller need


@dataclass
class EngineStep:
    op: EngineOp


Step = HostStep | EngineStep


def _reads(index: GraphIndex, i: int) -> list[str]:
    n = index.nodes[i]
    return [t for t in list(n.input) + sorted(subgraph_inputs(n)) if t]


def schedule(index: GraphIndex, placements: list[Placement]) -> list[Step]:
    """The steps that compute every graph output (see the module docstring)."""
    # Units: ("e", op) once per engine op, ("h", node index) per host node.
    units: list[tuple[str, object]] = []
    unit_of_tensor: dict[str, int] = {}
    seen_ops: dict[int, int] = {}
    for p in placements:
        if p.target is Target.ENGINE:
            if id(p.op) in seen_ops:
                continue
            seen_ops[id(p.op)] = len(units)
            unit_of_tensor[p.op.output] = len(units)
            units.append(("e", p.op))
        else:
            for o in index.nodes[p.index].output:
                if o:
                    unit_of_tensor[o] = len(units)
            units.append(("h", p.index))

    def reads(u: int) -> list[str]:
        kind, x = units[u]
        return x.inputs if kind == "e" else _reads(index, x)

    deps = [set() for _ in units]
    users = [set() for _ in units]
    for u in range(len(units)):
        for t in reads(u):
            v = unit_of_tensor.get(t)
            if v is not None and v != u:
                deps[u].add(v)
                users[v].add(u)
    indeg = [len(d) for d in deps]
    ready_e: list[int] = []
    ready_h: list[int] = []
    for u in range(len(units)):
        if indeg[u] == 0:
            heapq.heappush(ready_e if units[u][0] == "e" else ready_h, u)
    order: list[int] = []
    steps: list[Step] = []
    host_open: list[int] | None = None
    while ready_e or ready_h:
        if host_open is not None and ready_h:
            u = heapq.heappop(ready_h)
            host_open.append(units[u][1])
        elif ready_e:
            host_open = None
            u = heapq.heappop(ready_e)
            steps.append(EngineStep(units[u][1]))
        else:
            u = heapq.heappop(ready_h)
            host_open = [units[u][1]]
            steps.append(HostStep(()))
            steps[-1].nodes = host_open  # filled in place while the segment is open
        order.append(u)
        for v in users[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                heapq.heappush(ready_e if units[v][0] == "e" else ready_h, v)
    if len(order) != len(units):
        from .errors import WinnowModelError
        raise WinnowModelError("the graph has a cycle or reads a tensor nothing produces")
    for s in steps:
        if isinstance(s, HostStep):
            s.nodes = tuple(s.nodes)
    _wire(index, steps)
    return steps


def _wire(index: GraphIndex, steps: list[Step]) -> None:
    """Fill each host step's runtime inputs and needed outputs."""
    needed_later: set[str] = set(index.outputs)
    for s in reversed(steps):
        if isinstance(s, EngineStep):
            needed_later.update(t for t in s.op.inputs if index.const(t) is None)
            continue
        produced = {o for i in s.nodes for o in index.nodes[i].output if o}
        s.outputs = [o for i in s.nodes for o in index.nodes[i].output
                     if o and o in needed_later]
        ins = []
        for i in s.nodes:
            for t in _reads(index, i):
                if t not in produced and t not in index.initializer_protos and t not in ins:
                    ins.append(t)
        s.inputs = ins
        needed_later.update(ins)


def segment_model(index: GraphIndex, step: HostStep, input_dtypes: dict[str, np.dtype],
                  name: str) -> onnx.ModelProto:
    """The standalone model of a host segment (inputs typed from the actual feeds)."""
    nodes = [index.nodes[i] for i in step.nodes]
    used = {t for i in step.nodes for t in _reads(index, i)}
    inits = [index.initializer_protos[t] for t in sorted(used) if t in index.initializer_protos]
    ins = [helper.make_tensor_value_info(t, helper.np_dtype_to_tensor_dtype(input_dtypes[t]),
                                         None) for t in step.inputs]
    outs = []
    for t in step.outputs:
        dt = index.dtype(t)
        if dt is None:
            vi = onnx.ValueInfoProto()
            vi.name = t
            outs.append(vi)
        else:
            outs.append(helper.make_tensor_value_info(t, helper.np_dtype_to_tensor_dtype(dt),
                                                      None))
    g = helper.make_graph(nodes, name, ins, outs, inits)
    m = helper.make_model(g, opset_imports=index.model.opset_import,
                          ir_version=max(index.model.ir_version, 4))
    m.functions.extend(index.model.functions)
    return m
