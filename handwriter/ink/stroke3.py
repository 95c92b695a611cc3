"""sketch-rnn's stroke-3 `.npz` (Ha & Eck 2017): QuickDraw sketches as `[dx, dy, pen_lift]`.

Each member (`train`, `valid`, `test`) is an object array of int16 `(n, 3)` arrays, y DOWN;
`pen_lift` has our meaning (1 on a stroke's last point). An object array is stored as a
pickle, and unpickling runs whatever the file names, so we never `allow_pickle=True`: we
parse each .npy member ourselves and unpickle with an allow-list of numpy's array builders.
"""

from __future__ import annotations

import io
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .core import Ink, InkError, atomic_write

SPLITS = ("train", "valid", "test")

_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's own array rebuilder, wherever it lives
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # pickled by numpy 1.x
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # pickled by numpy 2.x
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays only: any other global in the pickle is refused."""

    def __init__(self, file, path: Path, member: str):
        # latin1: sketch-rnn's files are Python 2 pickles whose array bytes arrive as str
        super().__init__(file, encoding="latin1")
        self.path, self.member = path, member

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise InkError(self.path, None, f"{self.member}: refusing to unpickle "
                           f"{module}.{name}; only numeric arrays are allowed")
        return _ALLOWED[module, name]


def _read_npy(path: Path, member: str, data: bytes) -> np.ndarray:
    """One .npy member: numeric arrays from their raw bytes, object arrays via the allow-list."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if not dtype.hasobject:
            count = int(np.prod(shape))
            array = np.frombuffer(f.read(count * dtype.itemsize), dtype, count)
            return array.reshape(shape, order="F" if fortran_order else "C")
        array = _ArrayUnpickler(f, path, member).load()
    except InkError:
        raise
    except Exception as e:  # a crafted or truncated pickle can fail in many ways
        raise InkError(path, None, f"{member}: not a readable .npy array ({e})") from None
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise InkError(path, None, f"{member}: pickle does not hold the {shape} array it declares")
    return array


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz (a zip of .npy files), by name, without trusting its pickles."""
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = {}
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    raise InkError(path, None, f"member {member!r} is not a .npy array")
                arrays[member.removesuffix(".npy")] = _read_npy(path, member, archive.read(member))
            return arrays
    except (zipfile.BadZipFile, zlib.error) as e:
        raise InkError(path, None, f"not a readable .npz file ({e})") from None


def read_stroke3(path: str | Path, split: str | None = None) -> list[Ink]:
    """Read one split (or all, in file order) as Inks with `meta={"split": name}`, y up."""
    path = Path(path)
    arrays = _read_npz(path)
    if split is not None and split not in arrays:
        raise InkError(path, None, f"no split {split!r} (has {sorted(arrays)})")
    inks = []
    for name in [split] if split is not None else list(arrays):
        sketches = arrays[name]
        if sketches.dtype == object and sketches.ndim == 3:  # sketches of one length, stacked
            try:
                sketches = sketches.astype(np.float64)
            except (TypeError, ValueError):
                raise InkError(path, None, f"{name}: sketches hold something other than "
                               "numbers") from None
        if sketches.dtype != object and (sketches.ndim != 3 or sketches.shape[2] != 3):
            raise InkError(path, None, f"{name}: expected sketches of (n, 3), got {sketches.shape}")
        for i, strokes in enumerate(sketches):
            if (not isinstance(strokes, np.ndarray) or strokes.dtype.kind not in "iuf"
                    or strokes.ndim != 2 or strokes.shape[1] != 3):
                got = strokes.shape if isinstance(strokes, np.ndarray) else type(strokes).__name__
                raise InkError(path, None, f"{name}[{i}]: expected a numeric (n, 3) array, "
                               f"got {got}")
            strokes = strokes.astype(np.float32)
            strokes[:, 1] = -strokes[:, 1]  # sketch-rnn's y points down
            inks.append(Ink(strokes, source=str(path), meta={"split": name}))
    return inks


def write_stroke3(path: str | Path, inks: list[Ink], split: str | None = "train") -> None:
    """Write inks into one split (None: each ink's `meta["split"]`), atomically, y down.

    All three splits are always written so sketch-rnn's loader finds them; the arrays are
    int16 when every offset is an integer that fits, else float32 (sketch-rnn reads both).
    """
    groups: dict[str, list[Ink]] = {name: [] for name in SPLITS}
    for ink in inks:
        groups.setdefault(split or ink.meta.get("split", "train"), []).append(ink)
    strokes = np.concatenate([i.strokes for i in inks]) if inks else np.zeros((0, 3))
    integral = np.all(strokes == np.round(strokes)) and np.abs(strokes).max(initial=0) < 32768
    arrays = {}
    for name, group in groups.items():
        sketches = np.empty(len(group), dtype=object)
        for i, ink in enumerate(group):  # one by one: np.array would stack equal lengths to 3-D
            flipped = ink.strokes * np.array([1, -1, 1], dtype=np.float32)
            sketches[i] = flipped.astype(np.int16 if integral else np.float32)
        arrays[name] = sketches
    atomic_write(path, lambda f: np.savez(f, **arrays))
