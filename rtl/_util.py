"""Helpers shared by the datapath blocks: config checks, constant matrix products, pipelines.

Nothing here knows a matrix or a width: the blocks pass them in from
:class:`winnow.hls.config.EngineConfig`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from amaranth.hdl import Const, Module, Signal, Value, signed
from amaranth.lib import data
from amaranth.lib.fifo import SyncFIFOBuffered
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError


def check_config(owner, config) -> EngineConfig:
    """``config`` itself, or ``EngineConfig()`` for None; anything else is rejected.

    ``owner`` is the component being constructed: it names the error and, as it
    will never be elaborated, is exempted from Amaranth's "created but never
    used" warning.
    """
    if config is None:
        return EngineConfig()
    if not isinstance(config, EngineConfig):
        owner._MustUse__silence = True  # Amaranth's opt-out of the UnusedElaboratable warning
        raise WinnowParameterError(
            f"{type(owner).__name__} config must be a winnow.hls.config.EngineConfig, "
            f"not {config!r}")
    return config


def tile_layout(bits: int, count: int) -> data.ArrayLayout:
    """``count`` signed ``bits``-bit elements, element 0 in the least significant bits."""
    return data.ArrayLayout(signed(bits), count)


def const_dot(coeffs: Sequence[int], values: Sequence[Value]) -> Value:
    """``sum(c * x)`` for integer constants ``c``; zeros are skipped, ±1 become add/sub.

    The result is as wide as Amaranth's arithmetic makes it (never truncated).
    """
    acc = None
    for c, x in zip(coeffs, values, strict=True):
        c = int(c)
        if c == 0:
            continue
        term = x if abs(c) == 1 else x * abs(c)
        if acc is None:
            acc = term if c > 0 else -term
        else:
            acc = acc + term if c > 0 else acc - term
    return Const(0, signed(2)) if acc is None else acc


def left_mul(mat: np.ndarray, grid: list[list[Value]]) -> list[list[Value]]:
    """``mat @ grid`` (grid as rows of Values): out[i][j] = sum_k mat[i, k] grid[k][j]."""
    cols = len(grid[0])
    return [[const_dot(row, [grid[k][j] for k in range(len(grid))]) for j in range(cols)]
            for row in np.asarray(mat)]


def right_mul_t(grid: list[list[Value]], mat: np.ndarray) -> list[list[Value]]:
    """``grid @ mat.T``: out[i][j] = sum_l grid[i][l] mat[j, l]."""
    return [[const_dot(row, grid_row) for row in np.asarray(mat)] for grid_row in grid]


def as_grid(view, rows: int, cols: int) -> list[list[Value]]:
    """The elements of a row-major array view as ``rows`` lists of ``cols`` Values."""
    return [[view[i * cols + j] for j in range(cols)] for i in range(rows)]


def flat(grid: list[list[Value]]) -> list[Value]:
    return [x for row in grid for x in row]


def _assign(view, value) -> list:
    """``view.eq(value)`` where ``value`` may be a dict of fields or a list of elements."""
    if isinstance(value, Mapping):
        return [s for f, v in value.items() for s in _assign(view[f], v)]
    if isinstance(value, list | tuple):
        return [s for e, v in enumerate(value) for s in _assign(view[e], v)]
    return [view.eq(value)]


StructStage = tuple[str, data.Layout, Callable[[object], object]]


def struct_pipeline(m: Module, i, o, stages: Sequence[StructStage]) -> None:
    """A chain of registered struct stages from stream ``i`` to stream ``o``.

    Each stage is ``(name, layout, fn)``: ``fn(prev)`` maps the previous stage's
    view (``i.payload`` for the first) to ``{field: value}``, where a value is a
    Value, a list of them (array fields) or again a dict (struct fields),
    registered into ``layout`` (truncated to each field's width: the caller
    guarantees the values fit). The last stage's register is ``o.payload``.

    Handshake: a stage loads when it is empty or its content moves on in the same
    cycle, so bubbles collapse and one item per cycle moves while ``o.ready`` is
    high; latency ``len(stages)``. ``i.ready`` depends combinationally on ``o.ready``.
    """
    prev_valid, prev_view = i.valid, i.payload
    valids, readies = [], []
    for k, (name, layout, fn) in enumerate(stages):
        last = k == len(stages) - 1
        view = o.payload if last else Signal(layout, name=name)
        valid = o.valid if last else Signal(name=f"{name}_valid")
        ready = Signal(name=f"{name}_ready")
        with m.If(ready):  # (an empty stage's payload is don't-care: valid alone enables)
            m.d.sync += [valid.eq(prev_valid), *_assign(view, fn(prev_view))]
        valids.append(valid)
        readies.append(ready)
        prev_valid, prev_view = valid, view
    m.d.comb += i.ready.eq(readies[0])
    for k, (valid, ready) in enumerate(zip(valids, readies, strict=True)):
        downstream = o.ready if k == len(stages) - 1 else readies[k + 1]
        m.d.comb += ready.eq(~valid | downstream)


def credit_pipeline(m: Module, i, o, stages: Sequence[StructStage], depth: int, name: str) -> None:
    """:func:`struct_pipeline`'s stages without back-pressure inside, then a FIFO.

    The stages load every cycle (no clock enables: no ready fans out to their
    registers); ``i.ready`` is high while fewer than ``depth`` transfers are in the
    stages or the ``depth``-entry FIFO after them, so the FIFO never overflows, and
    it depends on registers only. ``o`` is the FIFO's output (a buffered FIFO: two
    cycles). Latency ``len(stages) + 2``; one transfer per cycle while ``o.ready`` is
    high, when ``depth`` exceeds the latency.
    """
    prev_valid, prev_view = i.valid & i.ready, i.payload
    for stage, layout, fn in stages:
        layout = layout if layout is not None else o.payload.shape()
        view = Signal(layout, name=stage, reset_less=True)
        valid = Signal(name=f"{stage}_valid")
        m.d.sync += [valid.eq(prev_valid), *_assign(view, fn(prev_view))]
        prev_valid, prev_view = valid, view
    fifo = SyncFIFOBuffered(width=len(prev_view.as_value()), depth=depth)
    m.submodules[f"{name}_fifo"] = fifo
    count = Signal(range(depth + 1), name=f"{name}_count")  # taken in, not yet out of the FIFO
    m.d.comb += [
        fifo.w_en.eq(prev_valid), fifo.w_data.eq(prev_view),
        o.valid.eq(fifo.r_rdy), o.payload.eq(fifo.r_data), fifo.r_en.eq(o.ready),
        i.ready.eq(count < depth),
    ]
    m.d.sync += count.eq(count + (i.valid & i.ready) - (o.valid & o.ready))


Stage = tuple[data.ArrayLayout, Callable[[object], list[Value]]]


def register_pipeline(m: Module, i, o, stages: Sequence[Stage], name: str) -> None:
    """:func:`struct_pipeline` for array stages ``(layout, fn)``, named ``{name}_s{k}``.

    ``fn`` maps the previous stage's view to the list of this stage's element Values.
    """
    struct_pipeline(m, i, o, [(f"{name}_s{k}", layout, fn) for k, (layout, fn) in enumerate(stages)])
