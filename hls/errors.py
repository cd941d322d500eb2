"""Typed errors shared by every layer. Each message says what was wrong and what would be right."""


class WinnowError(Exception):
    """Base class of every error Winnow raises on purpose."""


class WinnowParameterError(WinnowError, ValueError):
    """A parameter (size, kernel, width, configuration) is outside what is supported."""


class WinnowOverflowError(WinnowError, ArithmeticError):
    """A value would not fit the datapath width the engine was built with."""
