"""A read-only index of an ONNX graph: constants, producers, consumers, inferred types.

Everything the partitioner and the graph cutter need to ask about a model,
computed once. Shapes and dtypes come from ``onnx.shape_inference`` (non
strict: unknown ops leave their outputs untyped rather than failing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from .errors import WinnowModelError

#: ONNX element type -> numpy dtype, for the types the runtime feeds and checks.
ONNX_TO_NUMPY = {
    onnx.TensorProto.FLOAT: np.dtype(np.float32), onnx.TensorProto.DOUBLE: np.dtype(np.float64),
    onnx.TensorProto.FLOAT16: np.dtype(np.float16), onnx.TensorProto.INT8: np.dtype(np.int8),
    onnx.TensorProto.UINT8: np.dtype(np.uint8), onnx.TensorProto.INT16: np.dtype(np.int16),
    onnx.TensorProto.UINT16: np.dtype(np.uint16), onnx.TensorProto.INT32: np.dtype(np.int32),
    onnx.TensorProto.UINT32: np.dtype(np.uint32), onnx.TensorProto.INT64: np.dtype(np.int64),
    onnx.TensorProto.UINT64: np.dtype(np.uint64), onnx.TensorProto.BOOL: np.dtype(np.bool_),
}


def load_model(model) -> onnx.ModelProto:
    """A ``ModelProto`` from a path, bytes or a ``ModelProto``; checked by ``onnx.checker``."""
    if isinstance(model, onnx.ModelProto):
        proto = model
    elif isinstance(model, bytes | bytearray):
        try:
            proto = onnx.load_from_string(bytes(model))
        except Exception as e:  # protobuf raises DecodeError, a plain Exception subclass
            raise WinnowModelError(f"bytes are not a serialized ONNX model: {e}") from e
    elif isinstance(model, str | os.PathLike):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise WinnowModelError(f"model file {path!r} does not exist")
        try:
            proto = onnx.load(path)
        except Exception as e:
            raise WinnowModelError(f"{path!r} is not a readable ONNX model: {e}") from e
    else:
        raise WinnowModelError(
            f"model must be a path, bytes or onnx.ModelProto, not {type(model).__name__}")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        first = str(e).splitlines()[0]
        # onnxruntime runs graphs whose inputs/outputs declare a type but no shape; so do we.
        if "Field 'shape' of 'type' is required but missing" not in first:
            raise WinnowModelError(f"invalid ONNX model: {first}") from e
    if not proto.graph.node:
        raise WinnowModelError("the model's graph has no nodes")
    return proto


@dataclass(frozen=True)
class TensorType:
    """Element dtype (``None`` when unknown) and shape (``None`` unknown rank; dims int or str)."""

    dtype: np.dtype | None
    shape: tuple | None


def _tensor_type(vi: onnx.ValueInfoProto) -> TensorType:
    t = vi.type.tensor_type
    dtype = ONNX_TO_NUMPY.get(t.elem_type) if vi.type.HasField("tensor_type") else None
    if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
        return TensorType(dtype, None)
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in t.shape.dim)
    return TensorType(dtype, dims)


def subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs (If/Loop/Scan bodies) read from the enclosing scope."""
    used: set[str] = set()
    for attr in node.attribute:
        graphs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
        for g in graphs:
            defined = {i.name for i in g.input} | {t.name for t in g.initializer}
            for n in g.node:
                defined.update(n.output)
            for n in g.node:
                used.update(i for i in n.input if i and i not in defined)
                used.update(subgraph_inputs(n) - defined)
            used.update(o.name for o in g.output if o.name not in defined)
    return used


@dataclass
class GraphIndex:
    """Index of ``model.graph`` (the model is not modified)."""

    model: onnx.ModelProto
    inferred: onnx.ModelProto
    nodes: list[onnx.NodeProto]
    constants: dict[str, np.ndarray]  # initializers and Constant outputs
    initializer_protos: dict[str, onnx.TensorProto]
    producer: dict[str, int]  # tensor -> node index
    consumers: dict[str, list[int]]  # tensor -> node indices (incl. subgraph reads)
    types: dict[str, TensorType]
    inputs: list[str]  # graph inputs that must be fed (not initializers)
    outputs: list[str]
    node_names: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, model: onnx.ModelProto) -> GraphIndex:
        try:
            inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        except Exception as e:
            raise WinnowModelError(f"ONNX shape inference failed: {e}") from e
        g = model.graph
        nodes = list(g.node)
        inits = {t.name: t for t in g.initializer}
        constants = {}
        for name, t in inits.items():
            constants[name] = numpy_helper.to_array(t)
        producer, consumers = {}, {}
        for i, n in enumerate(nodes):
            for o in n.output:
                if o:
                    producer[o] = i
            for x in list(n.input) + sorted(subgraph_inputs(n)):
                if x:
                    consumers.setdefault(x, []).append(i)
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
                try:
                    constants[n.output[0]] = numpy_helper.to_array(
                        _constant_tensor(n))
                except Exception:  # sparse or unusual Constant: leave it to the host
                    pass
        types = {}
        ig = inferred.graph
        for vi in list(ig.input) + list(ig.value_info) + list(ig.output):
            types[vi.name] = _tensor_type(vi)
        for name, a in constants.items():
            types[name] = TensorType(a.dtype, a.shape)
        names = []
        seen = set()
        for i, n in enumerate(nodes):
            nm = n.name or f"{n.op_type}_{i}"
            if nm in seen:
                nm = f"{nm}_{i}"
            seen.add(nm)
            names.append(nm)
        index = cls(model, inferred, nodes, constants, inits, producer, consumers, types,
                    [i.name for i in g.input if i.name not in inits],
                    [o.name for o in g.output], names)
        index._types_from_onnxruntime()
        return index

    def _types_from_onnxruntime(self) -> None:
        """Fill dtypes ONNX inference left unknown (outputs of com.microsoft ops such as
        ``QLinearAdd``) from onnxruntime's own type inference: the model is loaded once,
        unoptimized, with those tensors as extra outputs, and their declared types read."""
        unknown = [o for n in self.nodes for o in n.output
                   if o and self.dtype(o) is None and o not in self.outputs]
        if not unknown:
            return
        import onnxruntime as ort

        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        for t in unknown:
            m.graph.output.append(onnx.ValueInfoProto(name=t))
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.log_severity_level = 3
        try:
            sess = ort.InferenceSession(m.SerializeToString(), so,
                                        providers=["CPUExecutionProvider"])
        except Exception:  # onnxruntime cannot load it either: leave the types unknown
            return
        for o in sess.get_outputs():
            if o.name in unknown and o.type.startswith("tensor("):
                dt = _ORT_TYPES.get(o.type[7:-1])
                shape = None if o.shape is None else tuple(
                    d if isinstance(d, int) else (d or None) for d in o.shape)
                self.types[o.name] = TensorType(dt, shape)

    def const(self, name: str) -> np.ndarray | None:
        """The value of ``name`` if it is a constant (``""``, an omitted input, gives None)."""
        return self.constants.get(name) if name else None

    def dtype(self, name: str) -> np.dtype | None:
        t = self.types.get(name)
        return t.dtype if t else None

    def shape(self, name: str) -> tuple | None:
        t = self.types.get(name)
        return t.shape if t else None

    def only_consumer(self, tensor: str, node_index: int) -> bool:
        """True when ``node_index`` is the only reader of ``tensor`` and it is no graph output."""
        return (self.consumers.get(tensor, []) == [node_index]
                and tensor not in self.outputs)

    def producer_node(self, tensor: str) -> onnx.NodeProto | None:
        i = self.producer.get(tensor)
        return None if i is None else self.nodes[i]


_ORT_TYPES = {"float": np.dtype(np.float32), "double": np.dtype(np.float64),
              "float16": np.dtype(np.float16), "int8": np.dtype(np.int8),
              "uint8": np.dtype(np.uint8), "int16": np.dtype(np.int16),
              "int32": np.dtype(np.int32), "int64": np.dtype(np.int64),
              "bool": np.dtype(np.bool_)}


def _constant_tensor(node: onnx.NodeProto) -> onnx.TensorProto:
    for a in node.attribute:
        if a.name == "value":
            return a.t
        if a.name in ("value_float", "value_int"):
            v = a.f if a.name == "value_float" else a.i
            return numpy_helper.from_array(np.array(v, dtype=np.float32 if a.name ==
                                                    "value_float" else np.int64))
        if a.name in ("value_floats", "value_ints"):
            v = list(a.floats) if a.name == "value_floats" else list(a.ints)
            return numpy_helper.from_array(np.array(v, dtype=np.float32 if a.name ==
                                                    "value_floats" else np.int64))
    raise ValueError("unsupported Constant")


def attrs(node: onnx.NodeProto) -> dict:
    """A node's attributes as Python values."""
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
