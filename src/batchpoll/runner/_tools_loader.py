"""``--tools FILE_OR_MODULE``: a Python file or an importable module whose public top-level
functions are the tool handlers, by name.

A function counts when it is defined in that module (so ``from json import dumps`` does not
make ``dumps`` a tool) and its name does not start with ``_``; ``__all__``, when present, is
the list. Handlers are called with the tool call's JSON arguments as keyword arguments, sync or
async (see ``batchpoll.ToolSettings``); a str result is sent as is, anything else as JSON.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from .. import ToolHandler
from ._errors import ToolsError

__all__ = ["load_tools"]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    return f"{type(exc).__name__}: {exc}"


def _import_file(path: Path) -> ModuleType:
    # A stable, unique module name: pickling and tracebacks work, two files never collide.
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"batchpoll_tools_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ToolsError(f"cannot load tools from {str(path)!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if not isinstance(exc, Exception):
            raise
        raise ToolsError(f"cannot load tools from {str(path)!r}: {_describe(exc)}") from None
    return module


def _import(spec: str) -> ModuleType:
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise ToolsError(f"cannot load tools from {spec!r}: no such file")
        return _import_file(path)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name is not None and spec.startswith(exc.name):
            raise ToolsError(
                f"cannot load tools from {spec!r}: no such file or importable module"
            ) from None
        raise ToolsError(f"cannot load tools from {spec!r}: {_describe(exc)}") from None
    except Exception as exc:
        raise ToolsError(f"cannot load tools from {spec!r}: {_describe(exc)}") from None


def load_tools(spec: str) -> dict[str, ToolHandler]:
    """Tool handlers by name from a ``.py`` file path or a dotted module path."""
    module = _import(spec)
    exported = getattr(module, "__all__", None)
    handlers: dict[str, ToolHandler] = {}
    for name, value in vars(module).items():
        if exported is not None:
            if name not in exported:
                continue
        elif name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value) or inspect.iscoroutinefunction(value):
            handlers[name] = value
    if not handlers:
        raise ToolsError(f"no tool functions in {spec!r} (public top-level functions)")
    return handlers
