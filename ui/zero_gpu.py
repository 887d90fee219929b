"""Hugging Face ZeroGPU: a Space on that hardware gets a GPU only inside functions decorated with
``spaces.GPU``. The package exists only there, so the decoration is applied only where it is
installed; everywhere else the function is returned as it is."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


def on_zero_gpu(function: F) -> F:
    if importlib.util.find_spec("spaces") is None:
        return function
    import spaces

    return spaces.GPU(function)
