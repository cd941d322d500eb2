"""Reference results from onnxruntime, built as one-node models (test helper)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

_DT = {np.dtype(np.int8): TensorProto.INT8, np.dtype(np.uint8): TensorProto.UINT8,
       np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int32): TensorProto.INT32}


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def run_node(op: str, inputs: dict[str, np.ndarray], out_dtype=np.int32, opset: int = 21,
             **attrs) -> np.ndarray:
    """Run one ONNX node on ``inputs`` (``None`` = omitted optional input); returns output 0."""
    names = list(inputs)
    feeds = {k: v for k, v in inputs.items() if v is not None}
    vis = [helper.make_tensor_value_info(k, _DT[np.asarray(v).dtype], np.asarray(v).shape)
           for k, v in feeds.items()]
    node = helper.make_node(op, [k if inputs[k] is not None else "" for k in names], ["y"],
                            **attrs)
    out = helper.make_tensor_value_info("y", _DT[np.dtype(out_dtype)], None)
    graph = helper.make_graph([node], op.lower(), vis, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return session(model).run(None, {k: np.asarray(v) for k, v in feeds.items()})[0]


def initializer(name: str, a: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(a), name)
