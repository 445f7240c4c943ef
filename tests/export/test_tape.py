"""Recorded kernel launches: what a tape accepts, and replays that equal a walk of the graph."""

import numpy as np
import pytest

from bnnas.export.engine import Engine
from bnnas.export.packed import pack
from bnnas.export.tape import Tape, base_array

pytest.importorskip("numba", reason="the fast engine needs bnnas[fast] (pip install numba)")

from bnnas.export.fast import FastEngine  # noqa: E402


def _double(x: np.ndarray, out: np.ndarray) -> None:
    np.multiply(x, 2, out=out)


def test_a_tape_accepts_reads_of_written_arrays_and_constants_only():
    source = np.ones((2, 3), np.float32)
    weight = np.full(3, 2.0, np.float32)
    stray = np.ones(3, np.float32)  # neither written by a launch nor declared constant
    tape = Tape(source, lambda base: base is weight)
    middle, out = np.empty((2, 3), np.float32), np.empty((2, 3), np.float32)
    tape.record(_double, (source[:, ::-1], middle), 1)  # a view of the input
    tape.record(np.multiply, (middle.reshape(-1)[:3], weight, out[0]), 1)  # a view, a constant
    assert tape.broken is None and tape.finish(out)
    tape.record(np.multiply, (middle[0], stray, out[1]), 1)
    assert "multiply reads an array no recorded kernel wrote" in tape.broken
    assert not tape.finish(out)
    unwritten = Tape(source, lambda base: False)
    unwritten.record(_double, (source, middle), 1)
    assert not unwritten.finish(np.zeros(3))
    assert unwritten.broken == "the output was not written by a recorded kernel"


def test_base_array_follows_views_to_the_owner():
    owner = np.zeros((4, 6))
    assert base_array(owner[1:, ::2].reshape(-1)) is owner
    assert base_array(owner) is owner


def test_a_replay_runs_the_launches_on_a_new_input_with_their_threads():
    source = np.zeros(3, np.float32)
    out = np.empty(3, np.float32)
    tape = Tape(source, lambda base: False)
    tape.record(_double, (source, out), 2)
    assert tape.finish(out)
    seen = []
    got = tape.replay(np.arange(3, dtype=np.float32), seen.append, 1)
    np.testing.assert_array_equal(got, [0, 2, 4])
    assert got is not out and seen == [2, 1]  # set for the launch, then set back
    np.testing.assert_array_equal(tape.replay(np.ones(3, np.float32), seen.append, 2), 2)
    assert seen == [2, 1]  # already on 2 threads: nothing to set


def test_calls_of_one_shape_replay_and_equal_the_reference(make_zoo_source,
                                                           make_genotype_source, genotypes):
    """From the second call of a shape on, the engine replays the recorded launches without
    walking the graph (a graph it could not walk any more still answers), each call on
    other inputs and each equal to the reference engine: a zoo model, DARTS cells with
    every op (factorized reductions of odd sizes: a padded copy), BARS dense cells."""
    rng = np.random.default_rng(11)
    for source, shape in ((make_zoo_source("bresnet_small", (1, 28, 28)), (1, 28, 28)),
                          (make_genotype_source(genotypes["darts"](), (1, 13, 13)), (1, 13, 13)),
                          (make_genotype_source(genotypes["bars"](), (1, 13, 13)), (1, 13, 13))):
        packed = pack(source)
        engine, reference = FastEngine(packed), Engine(packed)
        for call in range(4):
            x = rng.standard_normal((3, *shape)).astype(np.float32)
            np.testing.assert_array_equal(engine(x), reference(x))
            if call == 1:
                assert engine.replaying == "yes"
                engine.graph = {"type": "no such node"}  # a walk would fail now
        assert engine.replaying == "yes"


def test_another_shape_or_thread_count_records_again(make_zoo_source):
    """A call of another batch size, or after the engine's thread count changed, walks the
    graph and records anew; its logits are the reference's."""
    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    engine, reference = FastEngine(packed, threads=2), Engine(packed)
    rng = np.random.default_rng(12)
    launches = {}
    for batch, threads in ((2, 2), (2, 2), (5, 2), (5, 2), (5, 1), (5, 1), (2, 1)):
        engine.threads = threads
        x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
        np.testing.assert_array_equal(engine(x), reference(x))
        if engine._tape is not None:  # not after a call that grew the im2col buffer
            launches[(batch, threads)] = {t for _, _, t in engine._tape.steps}
    assert launches[(5, 1)] == {1} and 2 in launches[(5, 2)]
    assert engine._tape_key == ((2, 1, 28, 28), 1)


def test_a_network_with_a_numpy_step_is_walked_every_call(make_zoo_source):
    """A step the fast engine does not compile (here a ReLU, numpy's) makes an array no
    launch wrote: the tape says so and is not replayed, and every call stays exact."""
    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    stem = packed.meta["graph"]["stem"]
    stem["layers"].insert(1, {"type": "relu"})
    engine, reference = FastEngine(packed), Engine(packed)
    rng = np.random.default_rng(13)
    for _ in range(3):
        x = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
        np.testing.assert_array_equal(engine(x), reference(x))
    assert engine.replaying.endswith("reads an array no recorded kernel wrote")


@pytest.mark.parametrize("reuse_bytes", [0, 30_000])
def test_outputs_beyond_the_budget_are_never_replayed(make_zoo_source, reuse_bytes):
    """A replay holds every node output; when they exceed ``reuse_bytes`` the engine walks
    the graph each call instead of holding more."""
    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    engine = FastEngine(packed, reuse_bytes=reuse_bytes)
    x = np.random.default_rng(14).standard_normal((4, 1, 28, 28)).astype(np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(engine(x), Engine(packed)(x))
    assert engine.replaying == "the node outputs exceed reuse_bytes"


def test_timed_calls_walk_the_graph(make_zoo_source):
    packed = pack(make_zoo_source("bresnet_small", (1, 28, 28)))
    engine = FastEngine(packed)
    x = np.random.default_rng(15).standard_normal((1, 1, 28, 28)).astype(np.float32)
    engine(x), engine(x)
    engine.timings = {}
    np.testing.assert_array_equal(engine(x), Engine(packed)(x))
    assert engine.timings.get("conv2d", 0) > 0  # walked: the nodes were timed
