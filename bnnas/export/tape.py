"""A forward pass recorded as its kernel launches, to be replayed for the next input.

Walking the node tree costs the fast engine as much as its kernels on a small network at
batch 1 (``bresnet_small``: about 80 of 150 us here, ``bench/engine_profile.py``): the
dispatch by node type, the plans looked up, the shapes worked out, the buffers handed out.
Once the engine writes every node output into arrays it keeps between calls, a second call
of the same shape launches the same kernels on the same arrays with the same scalars; only
the input's values differ. A :class:`Tape` records those launches while a call runs and
replays them, the new input copied into the recorded input array, without the walk.

A replay is only right if every value a kernel reads was written by an earlier recorded
launch or is a constant of the model. The tape checks this while it records, array by
array: an argument must lie in an array that a recorded launch wrote (the input array
counts as written), or be a constant that the engine declared (the packed file's arrays:
weights, scales, biases; and what it derived from them alone: plans, coefficient tables).
An array made by numpy between launches (a reference-engine step the fast engine does not
compile) fails the check and the tape is not replayed: that network keeps walking the
tree, with the same results. By convention a kernel writes its last array argument; that
array's base becomes written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def base_array(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself when it is not a view)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class Tape:
    """The kernel launches of one forward pass from ``input_array`` (see the module's
    docstring). ``is_constant(base)`` says whether an array base read before any launch
    wrote it is a constant of the model."""

    def __init__(self, input_array: np.ndarray,
                 is_constant: Callable[[np.ndarray], bool]) -> None:
        self.input = input_array
        self.steps: list[tuple[Callable[..., Any], tuple[Any, ...], int]] = []
        self.output: np.ndarray | None = None
        self.broken: str | None = None  # why it cannot be replayed, once known
        self._is_constant = is_constant
        self._written = {id(base_array(input_array))}

    def record(self, kernel: Callable[..., Any], args: Sequence[Any], threads: int) -> None:
        """Note a launch of ``kernel`` on ``args`` with ``threads`` threads, and check that
        it reads only written arrays and constants."""
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        if self.broken is None:
            for a in arrays[:-1]:
                base = base_array(a)
                if id(base) not in self._written and not self._is_constant(base):
                    self.broken = (f"{getattr(kernel, '__name__', kernel)} reads an array no "
                                   "recorded kernel wrote")
                    break
        if arrays:
            self._written.add(id(base_array(arrays[-1])))
        self.steps.append((kernel, tuple(args), threads))

    def finish(self, output: np.ndarray) -> bool:
        """Close the recording with the pass's ``output``; True if it can be replayed."""
        if self.broken is None and id(base_array(output)) not in self._written:
            self.broken = "the output was not written by a recorded kernel"
        self.output = output
        return self.broken is None

    def replay(self, x: np.ndarray, set_threads: Callable[[int], None], threads: int) -> np.ndarray:
        """The recorded pass on ``x`` (the recorded input's shape): a new array of outputs.
        ``threads`` is the count set when the call began; it is set again at the end."""
        np.copyto(self.input, x)
        current = threads
        try:
            for kernel, args, wanted in self.steps:
                if wanted != current:
                    set_threads(wanted)
                    current = wanted
                kernel(*args)
        finally:
            if current != threads:
                set_threads(threads)
        return self.output.copy()
