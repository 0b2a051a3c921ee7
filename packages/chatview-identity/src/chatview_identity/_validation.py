"""Run-time argument type checks for callers without a type checker."""

from __future__ import annotations

__all__ = ["require_type"]


def require_type(value: object, expected: type, name: str) -> None:
    """Raise TypeError unless `value` is an instance of `expected`.

    Taking `object` keeps the check meaningful to mypy, which would otherwise call the
    error branch unreachable for a parameter annotated with the expected type.
    """
    if not isinstance(value, expected):
        msg = f"{name} must be {expected.__name__}, not {type(value).__name__}"
        raise TypeError(msg)
