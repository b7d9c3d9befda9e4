"""Read a ``torch.save`` file into plain Python data and NumPy arrays, without PyTorch.

A ``torch.save`` file is a zip archive: ``<name>/data.pkl`` (a pickle) and one raw file per
tensor storage under ``<name>/data/``. The pickle is read with an allowlist: only ordered
dicts, the tensor rebuild function and the storage types can be named, so a checkpoint
cannot run code on load (anything else raises ``UnsafePickle``). Tensors come back as
C-contiguous NumPy arrays. The server uses this so that it never has to import PyTorch
(2 s and ~250 MB) to load a model.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


class UnsafePickle(Exception):
    """The pickle names something outside the allowlist."""


class NotTorchZip(Exception):
    """The file is not a (complete) zip-format torch.save file."""


_STORAGES: dict[str, str] = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bf16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


class _Storage:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


def _rebuild_tensor(storage: NDArray[Any], offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_rest: Any) -> NDArray[Any]:
    if not size:
        return np.array(storage[offset])
    need = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1
    if min(size) > 0 and need > storage.shape[0]:
        raise NotTorchZip("a tensor reaches past the end of its storage")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=[s * item for s in stride])
    return np.ascontiguousarray(view)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self._archive, self._prefix = archive, prefix

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _Storage(_STORAGES[name])
        raise UnsafePickle(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"
                and isinstance(pid[1], _Storage)):
            raise UnsafePickle(f"persistent id {pid!r:.80}")
        try:
            raw = self._archive.read(f"{self._prefix}/data/{pid[2]}")
        except KeyError as exc:
            raise NotTorchZip(f"storage {pid[2]} is missing") from exc
        if pid[1].dtype == "bf16":  # NumPy has no bfloat16: widen to float32
            return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(raw, pid[1].dtype)


def read(path: str | Path) -> Any:
    """The object a ``torch.save`` zip file holds, with tensors as NumPy arrays."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not pickles:
                raise NotTorchZip("no data.pkl in the archive")
            prefix = pickles[0][: -len("data.pkl")].rstrip("/")
            order = archive.read(f"{prefix}/byteorder").decode().strip() if \
                f"{prefix}/byteorder" in archive.namelist() else "little"
            if order != "little":
                raise NotTorchZip(f"byte order {order!r} is not supported")
            return _Unpickler(archive.read(pickles[0]), archive, prefix).load()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, pickle.UnpicklingError,
            IndexError, TypeError, AttributeError, KeyError, zipfile.LargeZipFile) as exc:
        raise NotTorchZip(str(exc) or type(exc).__name__) from exc
