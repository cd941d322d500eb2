"""What fits the engine's input line buffer (shared by the RTL, the planner and the driver).

The line buffer is a ring of 8 input rows in 16 banks; each bank has
``line_buffer_bytes / (16 * bus_bytes)`` words, half of them per group of
four rows. A row of ``W`` pixels with ``CW = ceil(C / bus_bytes)`` words per
pixel fits when ``ceil(W / 4) * CW`` words fit half a bank.
"""

from __future__ import annotations

from .config import EngineConfig

BANKS = 16
RING_ROWS = 8


def bank_depth(cfg: EngineConfig) -> int:
    return cfg.line_buffer_bytes // (BANKS * cfg.bus_bytes)


def words_per_pixel(cfg: EngineConfig, channels: int) -> int:
    return -(-channels // cfg.bus_bytes)


def max_input_width(cfg: EngineConfig, channels: int) -> int:
    """The widest input row (pixels) one engine run accepts for ``channels`` channels."""
    return 4 * ((bank_depth(cfg) // 2) // words_per_pixel(cfg, channels))


def fits(cfg: EngineConfig, channels: int, width: int) -> bool:
    return -(-width // 4) * words_per_pixel(cfg, channels) <= bank_depth(cfg) // 2
