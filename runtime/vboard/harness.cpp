// The virtual board: clock, reset, an AXI4-Lite master (the CPU's register
// window) and an AXI4 slave memory (the board's DDR) around the Verilated
// engine, exported as a C API for ctypes. No Python runs per cycle.
//
// Build-time defines: WINNOW_BUS_BYTES (AXI4 data width in bytes), VM_TRACE
// (set by Verilator's --trace). The top is `vboard_top`, a port-renaming
// wrapper of `winnow_engine` (s_axil_*, m_axi_*).
//
// Memory model (one cycle = one engine clock):
// * AR and AW are always ready; a read burst's first beat is presented
//   `read_latency` cycles after its AR handshake, then one beat per cycle
//   while RREADY; bursts are served in AR order (any ID).
// * W beats are accepted while an AW is pending, written with strobes; the
//   B response follows the last beat by one cycle (BREADY is always 1).
// * Addresses beyond the array give SLVERR (reads return zeros).
// * `stall_reads` (a deliberately broken memory) accepts ARs but never
//   returns data: the engine hangs and the host's watchdog must fire.
#include <cstdint>
#include <cstring>
#include <deque>
#include <type_traits>

#include "Vvboard_top.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

#ifndef WINNOW_BUS_BYTES
#error "WINNOW_BUS_BYTES must be defined"
#endif

namespace {

constexpr unsigned B = WINNOW_BUS_BYTES;

template <typename T>
void put_bytes(T& sig, const uint8_t* src) {
    if constexpr (std::is_integral_v<T>) {
        T v = 0;
        std::memcpy(&v, src, B);
        sig = v;
    } else {
        for (unsigned i = 0; i < B / 4; ++i) {
            uint32_t w;
            std::memcpy(&w, src + 4 * i, 4);
            sig[i] = w;
        }
    }
}

template <typename T>
void get_bytes(const T& sig, uint8_t* dst) {
    if constexpr (std::is_integral_v<T>) {
        T v = sig;
        std::memcpy(dst, &v, B);
    } else {
        for (unsigned i = 0; i < B / 4; ++i) {
            uint32_t w = sig[i];
            std::memcpy(dst + 4 * i, &w, 4);
        }
    }
}

struct ReadBurst {
    uint64_t ready_at;
    uint64_t addr;
    uint32_t beats;
    uint32_t id;
    bool error;
};

struct WriteBurst {
    uint64_t addr;
    uint32_t beats;
    uint32_t id;
    bool error;
};

struct Response {
    uint64_t ready_at;
    uint32_t id;
    uint32_t resp;
};

enum class Lite { IDLE, WRITE, READ };

struct Board {
    VerilatedContext ctx;
    Vvboard_top* top = nullptr;
    uint8_t* mem = nullptr;
    uint64_t mem_size = 0;
    uint32_t read_latency = 0;
    bool stall_reads = false;
    uint64_t cycle = 0;
    uint64_t read_beats = 0, write_beats = 0, slverr = 0;
    std::deque<ReadBurst> reads;
    std::deque<WriteBurst> writes;
    std::deque<Response> bresps;
    uint8_t beat[B];
    // AXI4-Lite master transaction in flight
    Lite lite = Lite::IDLE;
    bool lite_aw = false, lite_w = false, lite_done = false;
    uint32_t lite_data = 0, lite_resp = 0;
#if VM_TRACE
    VerilatedVcdC* vcd = nullptr;
#endif
};

bool in_range(const Board* b, uint64_t addr, uint64_t beats) {
    return addr + beats * B <= b->mem_size;
}

// Drive the slave outputs for the current cycle from the model's state.
void drive(Board* b) {
    auto* t = b->top;
    t->m_axi_arready = 1;
    t->m_axi_awready = 1;
    t->m_axi_wready = b->writes.empty() ? 0 : 1;
    bool rv = false;
    if (!b->stall_reads && !b->reads.empty() && b->reads.front().ready_at <= b->cycle) {
        const ReadBurst& r = b->reads.front();
        rv = true;
        if (r.error) {
            std::memset(b->beat, 0, B);
        } else {
            std::memcpy(b->beat, b->mem + r.addr, B);
        }
        put_bytes(t->m_axi_rdata, b->beat);
        t->m_axi_rid = r.id;
        t->m_axi_rlast = r.beats == 1;
        t->m_axi_rresp = r.error ? 2 : 0;
    }
    t->m_axi_rvalid = rv;
    bool bv = !b->bresps.empty() && b->bresps.front().ready_at <= b->cycle;
    t->m_axi_bvalid = bv;
    if (bv) {
        t->m_axi_bid = b->bresps.front().id;
        t->m_axi_bresp = b->bresps.front().resp;
    }
}

void tick(Board* b) {
    auto* t = b->top;
    drive(b);
    t->clk = 0;
    t->eval();
#if VM_TRACE
    if (b->vcd) b->vcd->dump(2 * b->cycle);
#endif
    // Sample the handshakes of this cycle before the edge.
    const bool ar = t->m_axi_arvalid && t->m_axi_arready;
    const bool aw = t->m_axi_awvalid && t->m_axi_awready;
    const bool w = t->m_axi_wvalid && t->m_axi_wready;
    const bool r = t->m_axi_rvalid && t->m_axi_rready;
    const bool bh = t->m_axi_bvalid && t->m_axi_bready;
    ReadBurst nr{};
    if (ar) {
        nr = {b->cycle + b->read_latency, t->m_axi_araddr, uint32_t(t->m_axi_arlen) + 1,
              uint32_t(t->m_axi_arid), false};
        nr.error = !in_range(b, nr.addr, nr.beats);
    }
    WriteBurst nw{};
    if (aw) {
        nw = {t->m_axi_awaddr, uint32_t(t->m_axi_awlen) + 1, uint32_t(t->m_axi_awid), false};
        nw.error = !in_range(b, nw.addr, nw.beats);
    }
    if (w) {
        WriteBurst& cur = b->writes.front();
        if (!cur.error) {
            get_bytes(t->m_axi_wdata, b->beat);
            uint64_t strb = t->m_axi_wstrb;
            uint8_t* dst = b->mem + cur.addr;
            if (strb == (B == 64 ? ~uint64_t(0) : (uint64_t(1) << B) - 1)) {
                std::memcpy(dst, b->beat, B);
            } else {
                for (unsigned i = 0; i < B; ++i)
                    if (strb >> i & 1) dst[i] = b->beat[i];
            }
        }
        ++b->write_beats;
        cur.addr += B;
        if (--cur.beats == 0) {
            b->bresps.push_back({b->cycle + 1, cur.id, cur.error ? 2u : 0u});
            b->slverr += cur.error;
            b->writes.pop_front();
        }
    }
    if (r) {
        ReadBurst& cur = b->reads.front();
        ++b->read_beats;
        cur.addr += B;
        if (--cur.beats == 0) {
            b->slverr += cur.error;
            b->reads.pop_front();
        }
    }
    if (bh) b->bresps.pop_front();
    if (ar) b->reads.push_back(nr);
    if (aw) b->writes.push_back(nw);
    // AXI4-Lite master
    if (b->lite == Lite::WRITE) {
        if (t->s_axil_awvalid && t->s_axil_awready) b->lite_aw = true;
        if (t->s_axil_wvalid && t->s_axil_wready) b->lite_w = true;
        if (t->s_axil_bvalid && t->s_axil_bready) {
            b->lite_resp = t->s_axil_bresp;
            b->lite_done = true;
        }
    } else if (b->lite == Lite::READ) {
        if (t->s_axil_arvalid && t->s_axil_arready) b->lite_aw = true;
        if (t->s_axil_rvalid && t->s_axil_rready) {
            b->lite_data = t->s_axil_rdata;
            b->lite_resp = t->s_axil_rresp;
            b->lite_done = true;
        }
    }
    t->clk = 1;
    t->eval();
#if VM_TRACE
    if (b->vcd) b->vcd->dump(2 * b->cycle + 1);
#endif
    ++b->cycle;
    b->ctx.time(2 * b->cycle);
    // Master outputs for the next cycle.
    const bool wr = b->lite == Lite::WRITE && !b->lite_done;
    const bool rd = b->lite == Lite::READ && !b->lite_done;
    t->s_axil_awvalid = wr && !b->lite_aw;
    t->s_axil_wvalid = wr && !b->lite_w;
    t->s_axil_bready = wr;
    t->s_axil_arvalid = rd && !b->lite_aw;
    t->s_axil_rready = rd;
}

int lite_wait(Board* b, uint64_t max_cycles) {
    for (uint64_t i = 0; i < max_cycles && !b->lite_done; ++i) tick(b);
    const bool ok = b->lite_done;
    b->lite = Lite::IDLE;
    b->top->s_axil_awvalid = b->top->s_axil_wvalid = b->top->s_axil_arvalid = 0;
    b->top->s_axil_bready = b->top->s_axil_rready = 0;
    return ok ? int(b->lite_resp) : -1;
}

void lite_begin(Board* b, Lite kind, uint32_t addr) {
    b->lite = kind;
    b->lite_aw = b->lite_w = b->lite_done = false;
    auto* t = b->top;
    if (kind == Lite::WRITE) {
        t->s_axil_awaddr = addr;
        t->s_axil_awvalid = 1;
        t->s_axil_wvalid = 1;
        t->s_axil_wstrb = 0xF;
        t->s_axil_bready = 1;
    } else {
        t->s_axil_araddr = addr;
        t->s_axil_arvalid = 1;
        t->s_axil_rready = 1;
    }
}

}  // namespace

extern "C" {

int vb_bus_bytes() { return B; }

int vb_has_trace() {
#if VM_TRACE
    return 1;
#else
    return 0;
#endif
}

void* vb_create(uint64_t mem_size, uint32_t read_latency) {
    auto* b = new Board;
#if VM_TRACE
    b->ctx.traceEverOn(true);
#endif
    b->top = new Vvboard_top{&b->ctx, "top"};
    // calloc: untouched pages of a large memory cost nothing.
    b->mem = static_cast<uint8_t*>(std::calloc(mem_size, 1));
    if (!b->mem) {
        delete b->top;
        delete b;
        return nullptr;
    }
    b->mem_size = mem_size;
    b->read_latency = read_latency;
    auto* t = b->top;
    t->clk = 0;
    t->rst = 1;
    t->eval();
    return b;
}

void vb_destroy(void* h) {
    auto* b = static_cast<Board*>(h);
#if VM_TRACE
    if (b->vcd) {
        b->vcd->close();
        delete b->vcd;
    }
#endif
    b->top->final();
    delete b->top;
    std::free(b->mem);
    delete b;
}

uint8_t* vb_mem(void* h) { return static_cast<Board*>(h)->mem; }
uint64_t vb_mem_size(void* h) { return static_cast<Board*>(h)->mem_size; }
uint64_t vb_cycle(void* h) { return static_cast<Board*>(h)->cycle; }
void vb_set_read_latency(void* h, uint32_t cycles) { static_cast<Board*>(h)->read_latency = cycles; }
void vb_set_stall_reads(void* h, int on) { static_cast<Board*>(h)->stall_reads = on != 0; }

void vb_counters(void* h, uint64_t* out) {
    auto* b = static_cast<Board*>(h);
    out[0] = b->cycle;
    out[1] = b->read_beats;
    out[2] = b->write_beats;
    out[3] = b->slverr;
}

// Reset engine and memory model together (a board reset), `cycles` long.
void vb_reset(void* h, uint32_t cycles) {
    auto* b = static_cast<Board*>(h);
    b->reads.clear();
    b->writes.clear();
    b->bresps.clear();
    b->lite = Lite::IDLE;
    b->top->rst = 1;
    for (uint32_t i = 0; i < cycles; ++i) tick(b);
    b->top->rst = 0;
    tick(b);
}

void vb_run(void* h, uint64_t cycles) {
    auto* b = static_cast<Board*>(h);
    for (uint64_t i = 0; i < cycles; ++i) tick(b);
}

// Register write: 0 OKAY, 2 SLVERR, 3 DECERR, -1 no response within max_cycles.
int vb_reg_write(void* h, uint32_t addr, uint32_t value, uint64_t max_cycles) {
    auto* b = static_cast<Board*>(h);
    lite_begin(b, Lite::WRITE, addr);
    b->top->s_axil_wdata = value;
    return lite_wait(b, max_cycles);
}

// Register read into *value; returns like vb_reg_write.
int vb_reg_read(void* h, uint32_t addr, uint32_t* value, uint64_t max_cycles) {
    auto* b = static_cast<Board*>(h);
    lite_begin(b, Lite::READ, addr);
    int rc = lite_wait(b, max_cycles);
    *value = b->lite_data;
    return rc;
}

// Waveform of everything from now until vb_trace_close (VCD). 0 ok, -1 no trace support.
int vb_trace_open(void* h, const char* path) {
#if VM_TRACE
    auto* b = static_cast<Board*>(h);
    if (b->vcd) return -2;
    b->vcd = new VerilatedVcdC;
    b->top->trace(b->vcd, 99);
    b->vcd->open(path);
    return 0;
#else
    (void)h;
    (void)path;
    return -1;
#endif
}

void vb_trace_close(void* h) {
#if VM_TRACE
    auto* b = static_cast<Board*>(h);
    if (b->vcd) {
        b->vcd->close();
        delete b->vcd;
        b->vcd = nullptr;
    }
#else
    (void)h;
#endif
}

}  // extern "C"
