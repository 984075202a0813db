"""Load detectron2-style ``.pkl`` weight files without running code from them.

A detectron2 / Mask2Former weight pickle is ``{"model": {name: ndarray}, "__author__": str, ...}``.
Plain ``pickle.load`` would call any global the file names (``os.system`` included), so this
module unpickles with an allow-list: numpy arrays, dtypes and scalars (under both the numpy 1.x
``numpy.core`` and numpy 2.x ``numpy._core`` module paths), plain containers, numbers and
strings. Anything else is refused before it is called.
"""
from __future__ import annotations

import collections
import importlib
import os
import pickle
from typing import Any

# Globals a weight pickle may name. Keys are (module, name) as written in the file; numpy's
# private module is spelled "numpy.core" by numpy 1.x and "numpy._core" by numpy 2.x.
_NUMPY_PRIVATE_GLOBALS = {
    ("multiarray", "_reconstruct"),
    ("multiarray", "scalar"),
    ("numeric", "_frombuffer"),
}
_PUBLIC_GLOBALS: dict[tuple[str, str], Any] = {
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("builtins", "slice"): slice,
    ("__builtin__", "set"): set,  # Python 2 pickles
    ("__builtin__", "frozenset"): frozenset,
    ("collections", "OrderedDict"): collections.OrderedDict,
    # Protocol-2 pickles store bytes as latin-1 text decoded back with _codecs.encode.
    ("_codecs", "encode"): None,
    ("numpy", "ndarray"): None,
    ("numpy", "dtype"): None,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global outside the allow-list."""


def _numpy_private_module(submodule: str):
    # numpy 2 keeps numpy.core as a deprecated shim; numpy 1.x has no numpy._core.
    for package in ("numpy._core", "numpy.core"):
        try:
            return importlib.import_module(f"{package}.{submodule}")
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(f"neither numpy._core.{submodule} nor numpy.core.{submodule} exist")


def _numpy_dtype_class(name: str) -> bool:
    # numpy 2 may pickle dtypes by their class in numpy.dtypes (e.g. numpy.dtypes.Float32DType).
    import numpy

    dtypes = getattr(numpy, "dtypes", None)
    cls = getattr(dtypes, name, None) if dtypes is not None else None
    return isinstance(cls, type) and issubclass(cls, numpy.dtype)


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        for prefix in ("numpy.core.", "numpy._core."):
            if module.startswith(prefix):
                submodule = module[len(prefix):]
                if (submodule, name) in _NUMPY_PRIVATE_GLOBALS:
                    return getattr(_numpy_private_module(submodule), name)
        if (module, name) in _PUBLIC_GLOBALS:
            value = _PUBLIC_GLOBALS[(module, name)]
            return value if value is not None else super().find_class(module, name)
        if module == "numpy.dtypes" and _numpy_dtype_class(name):
            return super().find_class(module, name)
        raise UnsafePickleError(f"global '{module}.{name}' is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"persistent id {pid!r} is not allowed")


def load_safe_pickle(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` allowing only numpy arrays/dtypes/scalars and plain Python data.

    Python 2 era detectron2 pickles are read with ``encoding="latin1"``, as detectron2 does.

    Raises:
        UnsafePickleError: the file names a global outside the allow-list; the message names the
            file and the refused global. Nothing from the file has been called at that point.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        try:
            return _AllowListUnpickler(f, encoding="latin1").load()
        except UnsafePickleError as e:
            raise UnsafePickleError(
                f"Refusing to load {path}: {e}. Weight pickles may only hold numpy arrays, "
                "dtypes, scalars and plain containers; convert the file or check its origin."
            ) from None
