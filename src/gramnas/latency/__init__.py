"""Pluggable latency backends: ``get_backend(name, **options).measure(model_or_arch)``.

Backends import their runtime only when chosen, so ``import gramnas`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from gramnas.errors import GramError, field_error
from gramnas.latency.base import LatencyBackend, LatencyResult, TimingProtocol

# name -> (module, class, pip extra that provides its runtime)
_BACKENDS = {
    "onnxruntime": ("gramnas.latency.onnxruntime", "OnnxRuntimeBackend", "gramnas"),
    "macs": ("gramnas.latency.macs", "MacsBackend", None),
    "lut": ("gramnas.latency.lut", "LutBackend", "gramnas"),
    "tflite": ("gramnas.latency.tflite", "TFLiteBackend", "gramnas[tflite]"),
    "adb": ("gramnas.latency.adb", "AdbBackend", "gramnas[tflite]"),
}


def available_backends() -> list[str]:
    return sorted(_BACKENDS)


def get_backend(name: str, **options: Any) -> LatencyBackend:
    if name not in _BACKENDS:
        raise field_error(
            "latency.name", f"unknown backend {name!r}", f"choose one of {available_backends()}"
        )
    module_name, class_name, extra = _BACKENDS[name]
    try:
        backend_class = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise GramError(
            f"latency.name={name}: its runtime is not installed ({exc.name}); pip install '{extra}'"
        ) from None
    try:
        return backend_class(**options)
    except TypeError as exc:
        raise field_error(f"latency ({name})", str(exc), "check the option names") from None


__all__ = ["LatencyBackend", "LatencyResult", "TimingProtocol", "available_backends", "get_backend"]
