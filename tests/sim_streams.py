"""Seeded stream stimulus for the Amaranth-simulator tests of the RTL blocks.

A source sends items on a ``stream.Signature`` port with random input gaps; a
sink takes transfers from one or more output streams under independent random
back-pressure and checks the stream rule on each: a valid output stays valid,
with the same payload, until it is accepted. :func:`run_streams` wires both to
a block with one input ``i`` and one output ``o``.

Seed: ``WINNOW_SEED`` (printed by :func:`rng_for`, and named in failure messages).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

SEED = int(os.environ.get("WINNOW_SEED", "20250611"))


def rng_for(name: str) -> np.random.Generator:
    """The generator of test ``name``: ``WINNOW_SEED`` and the name (the seed is printed)."""
    print(f"{name}: WINNOW_SEED={SEED}")
    return np.random.default_rng([SEED, sum(map(ord, name))])


def child_rngs(rng: np.random.Generator, count: int) -> list[np.random.Generator]:
    """``count`` independent generators drawn from ``rng`` (one per source or sink)."""
    return [np.random.default_rng(s) for s in rng.integers(1 << 62, size=count)]


def source(stream, inputs, rng: np.random.Generator, *, gap: float, cycles: list):
    """Testbench sending ``inputs`` on ``stream``; before each, idle while ``rng.random() < gap``.

    Appends the cycle of each transfer to ``cycles``.
    """
    async def testbench(ctx):
        cycle = 0
        for item in inputs:
            while rng.random() < gap:
                await ctx.tick()
                cycle += 1
            ctx.set(stream.payload, item)
            ctx.set(stream.valid, 1)
            while True:
                *_, ready = await ctx.tick().sample(stream.ready)
                cycle += 1
                if ready:
                    break
            cycles.append(cycle - 1)
            ctx.set(stream.valid, 0)

    return testbench


@dataclass
class Port:
    """An output stream for :func:`sink`: ``take(payload, cycle)`` gets each accepted transfer."""

    name: str
    stream: object
    rng: np.random.Generator
    take: Callable


def sink(ports: Sequence[Port], *, stall: float, max_cycles: int, done: Callable[[], bool],
         progress: Callable[[], str]):
    """Testbench taking transfers from every port, each ready low with probability ``stall``.

    Checks every cycle that a valid transfer not taken keeps its payload until it
    is. Returns once ``done()`` (asked after each cycle's transfers); fails with
    ``progress()`` after ``max_cycles`` cycles.
    """
    async def testbench(ctx):
        held = {p.name: None for p in ports}
        for cycle in range(max_cycles):
            readies = []
            for p in ports:
                readies.append(bool(p.rng.random() >= stall))
                ctx.set(p.stream.ready, readies[-1])
            sampled = await ctx.tick().sample(*(s for p in ports for s in (p.stream.valid,
                                                                            p.stream.payload)))
            sampled = sampled[len(sampled) - 2 * len(ports):]
            for k, (p, ready) in enumerate(zip(ports, readies, strict=True)):
                valid, payload = sampled[2 * k], sampled[2 * k + 1]
                raw = payload.as_value().value
                if held[p.name] is not None:
                    assert valid and raw == held[p.name], (
                        f"{p.name} dropped or changed while stalled, cycle {cycle} (seed {SEED})")
                held[p.name] = raw if valid and not ready else None
                if valid and ready:
                    p.take(payload, cycle)
            if done():
                return
        raise AssertionError(f"{progress()} after {max_cycles} cycles")

    return testbench


def simulate(dut, *testbenches) -> None:
    """Run ``testbenches`` on ``dut`` with a 1 MHz clock until they have all returned."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in testbenches:
        sim.add_testbench(bench)
    sim.run()


@dataclass
class StreamRun:
    outputs: list = field(default_factory=list)  # payloads as sampled (``data.Const``)
    in_cycles: list = field(default_factory=list)  # cycle of each input transfer
    out_cycles: list = field(default_factory=list)  # cycle of each output transfer


def run_streams(dut, inputs, n_out, rng, *, gap=0.3, stall=0.3, max_cycles=20000) -> StreamRun:
    """Send ``inputs`` to ``dut.i`` with random gaps, take ``n_out`` outputs from ``dut.o``
    under random back-pressure (checking that a stalled output keeps its payload)."""
    src_rng, snk_rng = child_rngs(rng, 2)
    run = StreamRun()

    def take(payload, cycle):
        run.outputs.append(payload)
        run.out_cycles.append(cycle)

    simulate(dut, source(dut.i, inputs, src_rng, gap=gap, cycles=run.in_cycles),
             sink([Port("output", dut.o, snk_rng, take)], stall=stall, max_cycles=max_cycles,
                  done=lambda: len(run.outputs) == n_out,
                  progress=lambda: f"{len(run.outputs)}/{n_out} outputs"))
    return run
