"""Amaranth-simulator bench for the engine core: a memory model on its client ports (test helper).

The memory model serves each read client in request order, one beat per cycle
per client after ``latency`` cycles, and applies write requests and beats in
order (with strobes), acknowledging nothing explicitly: ``write_idle`` is high
whenever no write request or beat is pending.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from amaranth.sim import Simulator
from winnow.hls import layout
from winnow.hls.regmap import Mode
from winnow.rtl.core import EngineCore


def _layer_memory(cfg, mode, img, wts, x_zp, k, pads, out_hw, requant):
    """Place input image ``img[C, H, W]``, weights, requant table and output space in memory."""
    c, h, wd = img.shape
    b = cfg.bus_bytes
    xin = layout.pack_activations(img, b)
    ho, wo = out_hw
    out_pitch = layout.roundup(k * (1 if requant else 4), b)
    blobs = {"in": xin, "w": wts, "out": np.zeros(ho * wo * out_pitch, np.uint8)}
    if requant:
        blobs["q"] = layout.pack_requant(*requant, pes=cfg.pes, bus_bytes=b)
    addr, base = 0x100, {}
    for name, blob in blobs.items():
        base[name] = addr
        addr = layout.roundup(addr + blob.size + 64, 4096) + 0x40
    mem = np.zeros(addr, dtype=np.uint8)
    for name, blob in blobs.items():
        mem[base[name]:base[name] + blob.size] = blob
    pt, pl, pb, pr = pads
    desc = dict(mode=mode, in_addr=base["in"], w_addr=base["w"], q_addr=base.get("q", 0),
                out_addr=base["out"], c=c, k=k, h=h, w=wd, pad_top=pt, pad_left=pl,
                pad_bottom=pb, pad_right=pr, in_pitch=layout.activation_pitch(c, b),
                out_pitch=out_pitch, x_zp=int(x_zp) & 0xFF, out_zp=0,
                x_signed=int(img.dtype == np.int8), requant=int(bool(requant)), relu=0, out_signed=1)
    return mem, desc, (base["out"], k, ho, wo, b)


def conv_memory(cfg, x, w, x_zp, pads, requant=None):
    """Lay out one conv layer in a flat memory; returns (mem, descriptor dict, out geometry)."""
    _, h, wd = x.shape
    pt, pl, pb, pr = pads
    wts = layout.pack_conv_weights(w, 0, cfg.pes).view(np.uint8)
    return _layer_memory(cfg, Mode.CONV, x, wts, x_zp, w.shape[0], pads,
                         (h + pt + pb - 2, wd + pl + pr - 2), requant)


def gemm_memory(cfg, a, bmat, a_zp, requant=None):
    """Lay out ``A[M, Kd] @ B[Kd, N]`` (GEMM mode) like :func:`conv_memory`."""
    img = layout.gemm_image(a, a_zp)  # [Kd, rows/4, 4]
    wts = layout.pack_gemm_weights(bmat, 0, cfg.pes).view(np.uint8)
    return _layer_memory(cfg, Mode.GEMM, img, wts, a_zp, bmat.shape[1], (0, 0, 0, 0),
                         (img.shape[1], 4), requant)


def run_core(cfg, mem, desc, latency=2, max_cycles=200_000, seed=0):
    """Run one layer on the core in the Amaranth simulator; returns (mem, status dict)."""
    dut = EngineCore(cfg)
    b = cfg.bus_bytes
    rng = np.random.default_rng(seed)
    result = {}

    async def bench(ctx):
        for name, v in desc.items():
            ctx.set(getattr(dut.desc, name), int(v))
        for i in range(2):
            ctx.set(dut.rd_data[i].valid, 0)
            ctx.set(dut.rd_req[i].ready, 1)
        ctx.set(dut.wr_req.ready, 1)
        ctx.set(dut.wr_data.ready, 1)
        ctx.set(dut.write_idle, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        reads = [deque(), deque()]  # (ready_at_cycle, addr, beats)
        cur = [None, None]
        writes = deque()  # (addr, beats)
        wcur = None
        cycle = 0
        while cycle < max_cycles:
            cycle += 1
            # sample outputs
            for i in range(2):
                if ctx.get(dut.rd_req[i].valid):
                    a = ctx.get(dut.rd_req[i].payload.addr)
                    n = ctx.get(dut.rd_req[i].payload.len) + 1
                    reads[i].append([cycle + latency, a, n])
            if ctx.get(dut.wr_req.valid):
                writes.append([ctx.get(dut.wr_req.payload.addr),
                               ctx.get(dut.wr_req.payload.len) + 1])
            if ctx.get(dut.wr_data.valid):
                if wcur is None:
                    wcur = writes.popleft()
                data = ctx.get(dut.wr_data.payload.data)
                strb = ctx.get(dut.wr_data.payload.strb)
                for j in range(b):
                    if strb >> j & 1:
                        mem[wcur[0] + j] = (data >> (8 * j)) & 0xFF
                wcur[0] += b
                wcur[1] -= 1
                if wcur[1] == 0:
                    wcur = None
            for i in range(2):
                if ctx.get(dut.rd_data[i].valid):  # beat presented last cycle was taken
                    cur[i][1] += b
                    cur[i][2] -= 1
                    if cur[i][2] == 0:
                        cur[i] = None
            # drive inputs for the next cycle
            for i in range(2):
                if cur[i] is None and reads[i] and reads[i][0][0] <= cycle:
                    cur[i] = reads[i].popleft()
                if cur[i] is not None and rng.random() < 0.9:
                    a = cur[i][1]
                    word = int.from_bytes(mem[a:a + b].tobytes(), "little")
                    ctx.set(dut.rd_data[i].payload.data, word)
                    ctx.set(dut.rd_data[i].payload.last, int(cur[i][2] == 1))
                    ctx.set(dut.rd_data[i].payload.error, 0)
                    ctx.set(dut.rd_data[i].valid, 1)
                else:
                    ctx.set(dut.rd_data[i].valid, 0)
            ctx.set(dut.write_idle, int(not writes and wcur is None and not ctx.get(dut.wr_req.valid)))
            await ctx.tick()
            if ctx.get(dut.done) and not ctx.get(dut.busy):
                break
        result.update(done=ctx.get(dut.done), error=ctx.get(dut.error), cycles=ctx.get(dut.cycles),
                      mac=ctx.get(dut.mac_cycles), stall=ctx.get(dut.stall_cycles), sim_cycles=cycle)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return mem, result


def read_output(mem, geom, requant=False, dtype=np.int8):
    """The output region of ``geom`` (from :func:`conv_memory`) as ``[K, Ho, Wo]``."""
    base, k, ho, wo, bus_bytes = geom
    buf = mem[base:]
    if requant:
        return layout.unpack_activations(buf, k, ho, wo, bus_bytes, dtype)
    return layout.unpack_raw(buf, k, ho, wo, bus_bytes)
