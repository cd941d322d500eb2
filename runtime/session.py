"""``Session``: run an ONNX model with the engine's layers on a device, the rest on onnxruntime.

>>> sess = Session("model.onnx", device="emu")            # doctest: +SKIP
>>> y, = sess.run(None, {"x": x})                          # doctest: +SKIP
>>> print(sess.report())                                   # doctest: +SKIP

Contract: quantized layers (``ConvInteger``, ``QLinearConv``, ``MatMulInteger``,
``QLinearMatMul``, QDQ convs/matmuls) give onnxruntime's outputs bit for bit.
Float layers are quantized (:mod:`.floatq`) and dequantized, so they are
approximate; with ``check=True`` every run measures each float layer's error
against the fp32 node on the same inputs and each output against onnxruntime
running the whole fp32 model. Feeds are checked (names, dtype, rank, fixed
dims) and rejected with :class:`~.errors.WinnowInputError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
from winnow.hls.config import EngineConfig
from winnow.hls.quant import Calibrator

from .cut import EngineStep, HostStep, schedule, segment_model
from .device import CallRecord, Device, DeviceKind, open_device
from .errors import WinnowCalibrationError, WinnowInputError
from .floatq import FloatPolicy
from .graph import GraphIndex, load_model
from .ops import Numerics, OpRunner, OpStats
from .partition import Placement, Target, partition
from .report import NodeRow, OutputRow, Report


def ort_session(model: onnx.ModelProto) -> ort.InferenceSession:
    """A single-threaded CPU onnxruntime session (the engine's host shares 2 cores with BLAS)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: name, numpy dtype (None: unknown), shape (dims int/str/None)."""

    name: str
    dtype: np.dtype | None
    shape: tuple | None


class Session:
    """An ONNX model partitioned between an engine device and onnxruntime.

    * ``model``: path, bytes or ``onnx.ModelProto``.
    * ``device``: a :class:`DeviceKind`, ``"emu"``/``"rtl"``, or a :class:`Device`.
    * ``calibration``: ``None`` (float layers use each run's own ranges: dynamic
      quantization), a feed dict, or an iterable of feed dicts; the min/max of
      every float layer's inputs over these feeds fixes static scales.
    * ``policy``: :class:`FloatPolicy` for float layers.
    * ``check``: measure float-layer and output error against fp32 on every run.
    * ``device_options``: passed to :func:`open_device` when ``device`` is a kind
      (``"rtl"``: ``clock_hz``, ``trace``, ``read_latency``, ``timeout_cycles``).
    * ``trace``: ``(node name, path)``: dump a waveform of that engine layer
      on every run (``"rtl"`` only; the board is built with trace support).
    * ``host_nodes``: node names kept on the host whatever the partitioner says
      (reason ``policy``).
    """

    def __init__(self, model, device: DeviceKind | str | Device = DeviceKind.EMU,
                 calibration=None, *, config: EngineConfig | None = None,
                 policy: FloatPolicy | str = FloatPolicy.QUANTIZE, check: bool = True,
                 device_options: Mapping | None = None,
                 trace: tuple[str, str | os.PathLike] | None = None,
                 host_nodes: Iterable[str] = ()):
        self.model = load_model(model)
        self.model_name = (os.fspath(model) if isinstance(model, str | os.PathLike)
                           else self.model.graph.name or "model")
        options = dict(device_options or {})
        if trace is not None and not isinstance(device, Device):
            options.setdefault("trace", True)
        self.device = device if isinstance(device, Device) else open_device(device, config,
                                                                            **options)
        self.policy = FloatPolicy(policy)
        self.check = bool(check)
        self.index = GraphIndex.build(self.model)
        self.placements: list[Placement] = partition(self.index, self.policy,
                                                   self.device.config, host_nodes)
        self.steps = schedule(self.index, self.placements)
        self._host_sessions: dict[int, ort.InferenceSession] = {}
        self._runners = {id(s.op): OpRunner(s.op, self.index, self.device, self.policy,
                                            ort_session)
                         for s in self.steps if isinstance(s, EngineStep)}
        self._stats: dict[int, OpStats] = {}
        self._calls: dict[int, list[CallRecord]] = {}  # op id -> device calls of its last run
        self._trace = self._trace_target(trace)
        self._counts: dict[int, list[int]] = {}  # op id -> [runs, host fallbacks]
        self._fp32: ort.InferenceSession | None = None
        self._outputs_cmp: list[OutputRow] = []
        self._runs = 0
        self._last_use = self._lifetimes()
        if calibration is not None:
            self.calibrate(calibration)

    def _trace_target(self, trace) -> tuple[int, str] | None:
        if trace is None:
            return None
        name, path = trace
        for p in self.placements:
            if p.name == name and p.op is not None and p.op.node == p.index:
                return id(p.op), os.fspath(path)
        raise WinnowInputError(f"cannot trace {name!r}: not an engine layer of this model; "
                               f"engine layers: {self.offloaded()}")

    # ---------------------------------------------------------------- introspection
    def get_inputs(self) -> list[TensorInfo]:
        return [TensorInfo(n, self.index.dtype(n), self.index.shape(n)) for n in self.index.inputs]

    def get_outputs(self) -> list[TensorInfo]:
        return [TensorInfo(n, self.index.dtype(n), self.index.shape(n))
                for n in self.index.outputs]

    def offloaded(self) -> list[str]:
        return [p.name for p in self.placements
                if p.target is Target.ENGINE and p.op.node == p.index]

    # ---------------------------------------------------------------- checks
    def _check_feeds(self, feeds: Mapping, error=WinnowInputError) -> dict[str, np.ndarray]:
        if not isinstance(feeds, Mapping):
            raise error(f"feeds must be a dict name -> array, not {type(feeds).__name__}")
        need = self.index.inputs
        missing = [n for n in need if n not in feeds]
        extra = [n for n in feeds if n not in need]
        if missing or extra:
            raise error(f"inputs do not match the model: missing {missing}, unexpected {extra};"
                        f" the model takes {need}")
        out = {}
        for name in need:
            a = np.asarray(feeds[name])
            dt, shape = self.index.dtype(name), self.index.shape(name)
            if dt is not None and a.dtype != dt:
                raise error(f"input {name!r} has dtype {a.dtype}; the model expects {dt}")
            if shape is not None:
                if a.ndim != len(shape) or any(isinstance(d, int) and d != s
                                               for d, s in zip(shape, a.shape, strict=True)):
                    want = tuple(d if isinstance(d, int) else (d or "?") for d in shape)
                    raise error(f"input {name!r} has shape {a.shape}; the model expects {want}")
            out[name] = a
        return out

    def _lifetimes(self) -> dict[str, int]:
        last: dict[str, int] = {}
        for k, s in enumerate(self.steps):
            for t in (s.inputs if isinstance(s, HostStep) else s.op.inputs):
                last[t] = k
        for t in self.index.outputs:
            last[t] = len(self.steps)
        return last

    # ---------------------------------------------------------------- calibration
    def calibrate(self, calibration) -> None:
        """Fix static activation ranges for float layers from feed dicts (see class doc)."""
        batches = [calibration] if isinstance(calibration, Mapping) else calibration
        if not isinstance(batches, Iterable):
            raise WinnowCalibrationError(
                "calibration must be a feed dict or an iterable of feed dicts, not "
                f"{type(calibration).__name__}")
        names = sorted({t for r in self._runners.values() if r.op.numerics is Numerics.FLOAT
                        for t in (r.op.a, r.op.b)
                        if t and self.index.const(t) is None})
        if not names:
            return
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        known = {o.name for o in m.graph.output}
        for t in names:
            if t not in known and t not in self.index.inputs:
                m.graph.output.append(onnx.ValueInfoProto(name=t))
        sess = ort_session(m)
        cals = {t: Calibrator(np.int8 if t in {r.op.b for r in self._runners.values()}
                              else np.uint8) for t in names}
        count = 0
        for feeds in batches:
            feeds = self._check_feeds(feeds, WinnowCalibrationError)
            outs = dict(zip([o.name for o in sess.get_outputs()],
                            sess.run(None, feeds), strict=True))
            outs.update(feeds)
            for t in names:
                cals[t].update(outs[t])
            count += 1
        if not count:
            raise WinnowCalibrationError("calibration data is empty; give at least one feed dict")
        for r in self._runners.values():
            for t in (r.op.a, r.op.b):
                if t in cals:
                    r.calibrated[t] = cals[t].range()

    # ---------------------------------------------------------------- run
    def run(self, output_names: Sequence[str] | None, feeds: Mapping, run_options=None, *,
            progress: bool | None = False) -> list[np.ndarray]:
        """Outputs ``output_names`` (None: all) for ``feeds``, like onnxruntime.

        ``run_options`` is accepted for onnxruntime compatibility and ignored;
        ``progress`` shows a tqdm bar over the steps (None: when on a terminal).
        """
        names = list(self.index.outputs if output_names is None else output_names)
        bad = [n for n in names if n not in self.index.outputs]
        if bad:
            raise WinnowInputError(f"unknown outputs {bad}; the model has {self.index.outputs}")
        env = self._check_feeds(feeds)
        consts = self.index.constants

        def get(t: str) -> np.ndarray:
            v = env.get(t)
            return consts[t] if v is None else v

        bar = None
        if progress is None or progress:
            from tqdm import tqdm
            bar = tqdm(total=len(self.steps), desc="winnow run", leave=False,
                       disable=None if progress is None else False)
        for k, step in enumerate(self.steps):
            if bar is not None:
                bar.update(1)
            if isinstance(step, HostStep):
                sess = self._host_sessions.get(k)
                if sess is None:
                    dts = {t: get(t).dtype for t in step.inputs}
                    sess = ort_session(segment_model(self.index, step, dts, f"host_{k}"))
                    self._host_sessions[k] = sess
                outs = sess.run(step.outputs, {t: get(t) for t in step.inputs})
                env.update(zip(step.outputs, outs, strict=True))
                reads = step.inputs
            else:
                op = step.op
                mark = len(self.device.log)
                if self._trace is not None and self._trace[0] == id(op):
                    with self.device.trace(self._trace[1]):
                        y, stats = self._runners[id(op)].run(get, self.check)
                else:
                    y, stats = self._runners[id(op)].run(get, self.check)
                self._calls[id(op)] = self.device.log[mark:]
                env[op.output] = y
                self._stats[id(op)] = stats
                c = self._counts.setdefault(id(op), [0, 0])
                c[0] += 1
                c[1] += 0 if stats.on_engine else 1
                reads = op.inputs
            for t in reads:  # free what no later step reads
                if self._last_use.get(t) == k and t not in self.index.outputs and t in env:
                    del env[t]
        if bar is not None:
            bar.close()
        self._runs += 1
        if self.check:
            self._compare_outputs(feeds, env)
        return [get(n) for n in names]

    def _compare_outputs(self, feeds: Mapping, env: dict) -> None:
        if self._fp32 is None:
            self._fp32 = ort_session(self.model)
        ref = self._fp32.run(self.index.outputs, {n: np.asarray(feeds[n])
                                                  for n in self.index.inputs})
        rows = []
        for name, r in zip(self.index.outputs, ref, strict=True):
            y = env.get(name, self.index.constants.get(name))
            exact = bool(y.shape == r.shape and np.array_equal(y, r))
            if y.dtype.kind == "f" and y.shape == r.shape and y.size:
                a, b = y.astype(np.float64).ravel(), r.astype(np.float64).ravel()
                den = float(np.linalg.norm(a) * np.linalg.norm(b))
                cos = float(a @ b / den) if den else float(exact)
                err = float(np.max(np.abs(a - b)))
            else:
                err = 0.0 if exact else float("inf")
                cos = 1.0 if exact else 0.0
            rows.append(OutputRow(name, err, cos, exact))
        self._outputs_cmp = rows

    # ---------------------------------------------------------------- report
    def report(self) -> Report:
        rep = Report(os.path.basename(self.model_name), self.device.kind.value, self.policy.value,
                     runs=self._runs, outputs=list(self._outputs_cmp),
                     clock_hz=self.device.clock_hz)
        for p in self.placements:
            row = NodeRow(p.name, p.op_type, p.target.value, p.reason.value, p.detail)
            if p.op is not None and p.op.node == p.index:
                st = self._stats.get(id(p.op))
                row.layer, row.mode = p.op.kind.value, p.op.mode.name.lower()
                runs, fb = self._counts.get(id(p.op), (0, 0))
                row.runs, row.host_fallbacks = runs, fb
                if st is not None:
                    row.macs, row.cycles = st.macs, st.cycles
                    row.range_source = st.range_source.value if st.range_source else ""
                    row.max_abs_err, row.cosine = st.max_abs_err, st.cosine
                    if not st.on_engine:
                        row.detail += f"; last run on the host: {st.fallback}"
                calls = self._calls.get(id(p.op), [])
                if calls:
                    row.model_cycles = sum(c.model_cycles for c in calls)
                    row.mac_cycles = sum(c.mac_cycles for c in calls)
                    row.stall_cycles = sum(c.stall_cycles for c in calls)
                    row.engine_runs = sum(c.runs for c in calls)
                    row.measured = all(c.measured for c in calls)
            rep.nodes.append(row)
        rep.host_segments = sum(isinstance(s, HostStep) for s in self.steps)
        rep.engine_layers = sum(isinstance(s, EngineStep) for s in self.steps)
        regions, prev = 0, False
        for s in self.steps:
            cur = isinstance(s, EngineStep)
            regions += cur and not prev
            prev = cur
        rep.engine_regions = regions
        return rep
