"""The virtual board: the generated engine Verilated with a C++ harness, loaded with ctypes.

:mod:`.build` builds and caches the shared library; :class:`.board.VirtualBoard`
is a :class:`~winnow.runtime.driver.RegisterBus` and
:class:`~winnow.runtime.driver.Memory` over it.
"""
