"""Loading the CIFAR pickles without letting a pickle run code.

``pickle.load`` calls whatever a file names, so a doctored "data_batch_1" could run any
command. The CIFAR files hold only dicts, lists, strings, bytes and numpy arrays; the
unpickler below resolves exactly the few names that rebuilding a numpy array needs (under
numpy 1's and numpy 2's module names, and for pickle protocols 2 to 5) from a fixed table and
refuses every other name with a DataError. It never imports a module named in the file.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy._core.multiarray import _reconstruct
from numpy._core.numeric import _frombuffer

from bnnas.errors import DataError


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """What Python 3 protocol-2 pickles call (``_codecs.encode``) to rebuild bytes."""
    if encoding.lower().replace("-", "") != "latin1":
        raise DataError(f"refused codec {encoding!r} in a pickle")
    return text.encode("latin1")


ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in :data:`ALLOWED`; others raise DataError."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise DataError(f"refused to load {module}.{name}") from None


def load_pickle(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler`; Python 2 strings are read as latin-1.

    Any failure (refused name, truncated or non-pickle file) is a DataError naming the file.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            return SafeUnpickler(f, encoding="latin1").load()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    except DataError as err:
        raise DataError(f"{path} is not a plain data pickle ({err}); delete it") from None
    except Exception as err:  # a corrupt pickle can raise almost any exception type
        raise DataError(
            f"{path} is not a valid CIFAR pickle ({type(err).__name__}: {err}); "
            f"delete it and unpack the dataset again"
        ) from None
