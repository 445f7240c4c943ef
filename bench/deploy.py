"""Benchmark: torch float vs torch fake-binary vs the packed engines, and model file sizes.

For each network the same weights run four ways on the same inputs and threads:

* ``torch float``: the architecture with every binary conv/linear computing in float
  (identity quantizers, no scale, zero padding), i.e. what the network costs unbinarized;
* ``torch fake-binary``: the BNN in eval mode, signs computed in float (how PyTorch BNNs run);
* ``fast engine``: the packed ``.bnn`` file on the numba XNOR/popcount kernels
  (:class:`bnnas.export.fast.FastEngine`);
* ``reference engine``: the numpy engine, timed at ``--reference-batches`` only (it is a
  correctness reference, not a fast path).

Each runtime runs in a child process of its own (torch's OpenMP threads and numba's threads
would spin against each other in one process; a user runs one or the other), in ``--rounds``
interleaved rounds of which each runtime keeps its best: the speed of this 2-core machine
drifted by 2x and more between runs minutes apart. Because the best rounds of two runtimes
may come from different minutes, the ratio of torch float to the fast engine is also given
per round (the two run back to back), as median and range. BN statistics and shifts are randomized
first so that the prediction check is not trivial; the engines' predictions must equal the
fake-binary model's. Also prints the fast engine's time per node type and the file sizes:
``.bnn`` vs the float32 ``state_dict``.

    .venv/bin/python bench/deploy.py --threads 2
    .venv/bin/python bench/deploy.py --threads 2 --networks bresnet_small --batches 1 64
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bnnas.binary.layers import BinaryConv2d, BinaryLinear
from bnnas.binary.quantizers import make_quantizer
from bnnas.export.engine import Engine
from bnnas.export.fast import FastEngine
from bnnas.export.fileformat import write_packed
from bnnas.export.packed import pack
from bnnas.export.source import ExportSource, describe_architecture
from bnnas.models import create_model
from bnnas.space import Genotype, Network

# A genotype found by `bnnas demo` (UBNAS on the bundled Fashion-MNIST subset), widened to the
# Fashion-MNIST retrain size of configs/ubnas-fashion.yaml (8 cells of 24 channels).
SEARCHED = Path(__file__).with_name("searched-genotype.json")


def float_twin(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose binary layers compute in float: identity quantizers, no
    output scale, zero padding (the layers' own rule for real inputs)."""
    import copy

    twin = copy.deepcopy(model)
    for m in twin.modules():
        if isinstance(m, BinaryConv2d | BinaryLinear):
            m.input_quantizer = make_quantizer("identity")
            m.weight_quantizer = make_quantizer("identity")
            m.scaling = "none"
    return twin.eval()


def randomize_statistics(model: nn.Module, seed: int) -> nn.Module:
    """Non-trivial BN statistics, affines and RPReLU shifts, so that predictions differ."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            for name in ("shift_in", "shift_out"):
                p = getattr(m, name, None)
                if isinstance(p, nn.Parameter):
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model.eval()


def build(name: str) -> tuple[ExportSource, tuple[int, int, int]]:
    """The network ``name`` with its input shape: a zoo model or the searched genotype."""
    torch.manual_seed(0)
    if name == "searched":
        genotype = Genotype.load(SEARCHED)
        shape = (1, 28, 28)
        model = Network.from_genotype(genotype, 10, in_channels=1)
        classes = 10
    elif name == "birealnet18":
        shape, classes = (3, 224, 224), 1000
        model = create_model("birealnet18", num_classes=classes, in_channels=3)
    else:
        shape, classes = (1, 28, 28), 10
        model = create_model(name, num_classes=classes, in_channels=1)
    model = randomize_statistics(model, seed=1)
    return ExportSource(model, describe_architecture(model, name), shape, classes), shape


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def file_sizes(source: ExportSource) -> tuple[int, int]:
    """Bytes of the ``.bnn`` file and of the float32 ``state_dict`` checkpoint."""
    with tempfile.TemporaryDirectory() as tmp:
        bnn = write_packed(Path(tmp) / "m.bnn", pack(source))
    buffer = io.BytesIO()
    torch.save(source.model.state_dict(), buffer)
    return bnn, buffer.getbuffer().nbytes


# torch float and the fast engine run back to back, so that a round's ratio of the two
# compares minutes of the same machine speed.
RUNTIMES = ("torch_float", "fast_engine", "torch_fake_binary", "reference_engine")


def measure(runtime: str, name: str, batches: list[int], threads: int, repeats: int,
            layers: int, reference_batches: list[int], folder: Path) -> dict[str, object]:
    """Time one runtime on one network (in a process of its own) and save its logits."""
    torch.set_num_threads(threads)
    source, shape = build(name)
    result: dict[str, object] = {}
    if runtime.startswith("torch"):
        model = float_twin(source.model) if runtime == "torch_float" else source.model.eval()
        run_batch = lambda x: model(torch.from_numpy(x)).numpy()  # noqa: E731
    else:
        import numba

        numba.set_num_threads(threads)
        packed = pack(source)
        engine = FastEngine(packed, threads) if runtime == "fast_engine" else Engine(packed)
        run_batch = engine
    for batch in batches:
        if runtime == "reference_engine" and batch not in reference_batches:
            continue
        x = np.random.default_rng(batch).standard_normal((batch, *shape)).astype(np.float32)
        with torch.inference_mode():
            slow = runtime == "reference_engine"  # a correctness reference: a few runs do
            seconds = timed(partial(run_batch, x), max(1, repeats // 5) if slow else repeats)
            logits = run_batch(x)
        np.save(folder / f"{runtime}-{name}-{batch}.npy", logits)
        entry: dict[str, object] = {"ms": seconds * 1e3}
        if runtime == "fast_engine":
            engine.timings = {}
            engine(x)
            slowest = sorted(engine.timings.items(), key=lambda kv: -kv[1])[:layers]
            entry["slowest_nodes_ms"] = [(k, v * 1e3) for k, v in slowest]
            engine.timings = None
        result[str(batch)] = entry
    return result


def run(name: str, args: argparse.Namespace, folder: Path) -> list[dict[str, object]]:
    """Every runtime on network ``name``, each in a child process, then the comparison."""
    times: dict[str, dict[str, dict[str, object]]] = {}
    round_ratios: dict[str, list[float]] = {str(batch): [] for batch in args.batches}
    for _ in range(args.rounds):  # rounds interleave the runtimes; each keeps its best round
        this_round: dict[str, dict[str, dict[str, object]]] = {}
        for runtime in RUNTIMES:
            command = [sys.executable, __file__, "--worker", runtime, "--networks", name,
                       "--batches", *map(str, args.batches), "--threads", str(args.threads),
                       "--repeats", str(args.repeats), "--layers", str(args.layers),
                       "--reference-batches", *map(str, args.reference_batches),
                       "--json", str(folder / f"{runtime}-{name}.json")]
            subprocess.run(command, check=True)
            measured = json.loads((folder / f"{runtime}-{name}.json").read_text())
            this_round[runtime] = measured
            best = times.setdefault(runtime, measured)
            for batch, entry in measured.items():
                if entry["ms"] < best[batch]["ms"]:
                    best[batch] = entry
        for batch, ratios in round_ratios.items():
            ratios.append(this_round["torch_float"][batch]["ms"]
                          / this_round["fast_engine"][batch]["ms"])
    rows = []
    for batch in args.batches:
        b = str(batch)
        expected = np.load(folder / f"torch_fake_binary-{name}-{batch}.npy")
        fast = np.load(folder / f"fast_engine-{name}-{batch}.npy")
        same = bool((fast.argmax(1) == expected.argmax(1)).all())
        reference = times["reference_engine"].get(b)
        if reference is not None:
            ref_logits = np.load(folder / f"reference_engine-{name}-{batch}.npy")
            same = same and bool((ref_logits.argmax(1) == expected.argmax(1)).all())
        t_fast = times["fast_engine"][b]["ms"]
        rows.append({"network": name, "batch": batch,
                     "torch_float_ms": times["torch_float"][b]["ms"],
                     "torch_fake_binary_ms": times["torch_fake_binary"][b]["ms"],
                     "fast_engine_ms": t_fast,
                     "reference_engine_ms": None if reference is None else reference["ms"],
                     "speedup_vs_float": times["torch_float"][b]["ms"] / t_fast,
                     "round_speedups": round_ratios[b],
                     "images_per_s": batch / t_fast * 1e3,
                     "max_abs_logit_diff": float(np.abs(fast - expected).max()),
                     "same_predictions": same,
                     "slowest_nodes_ms": times["fast_engine"][b]["slowest_nodes_ms"]})
    source, _ = build(name)
    bnn, checkpoint = file_sizes(source)
    rows.append({"network": name, "bnn_bytes": bnn, "float_checkpoint_bytes": checkpoint})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+",
                        default=["bresnet_small", "searched", "birealnet18"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over all runtimes; the best round counts (this machine's "
                        "speed drifts by 2x and more over minutes)")
    parser.add_argument("--layers", type=int, default=5, help="slowest node types to list")
    parser.add_argument("--reference-batches", nargs="*", type=int, default=[1],
                        help="batches the (slow) reference engine is timed at")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--worker", choices=RUNTIMES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = measure(args.worker, args.networks[0], args.batches, args.threads,
                         args.repeats, args.layers, args.reference_batches,
                         Path(args.json).parent)
        Path(args.json).write_text(json.dumps(result))
        return
    import numba

    print(f"# {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          f"numba {numba.__version__}, {args.threads} threads, each runtime in its own process")
    print("| network | batch | torch float ms | torch fake-binary ms | fast engine ms | "
          "reference engine ms | fast img/s | fast vs float | per round: median (range) | "
          "same predictions |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    all_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.networks:
            rows = run(name, args, Path(tmp))
            all_rows += rows
            for r in rows:
                print(row_line(name, r), flush=True)
    for r in all_rows:
        if "slowest_nodes_ms" in r:
            slow = ", ".join(f"{k} {v:.2f}" for k, v in r["slowest_nodes_ms"])
            print(f"{r['network']} batch {r['batch']}: fast engine per node type (ms): {slow}")
    if args.json:
        Path(args.json).write_text(json.dumps(all_rows, indent=1))


def row_line(name: str, r: dict[str, object]) -> str:
    if "batch" not in r:
        return (f"| {name} | file | .bnn {r['bnn_bytes']:,} B | float32 checkpoint "
                f"{r['float_checkpoint_bytes']:,} B | "
                f"{r['float_checkpoint_bytes'] / r['bnn_bytes']:.1f}x smaller | | | | | |")
    ref = "-" if r["reference_engine_ms"] is None else f"{r['reference_engine_ms']:.1f}"
    rounds = r["round_speedups"]
    return (f"| {name} | {r['batch']} | {r['torch_float_ms']:.2f} | "
            f"{r['torch_fake_binary_ms']:.2f} | {r['fast_engine_ms']:.2f} | {ref} | "
            f"{r['images_per_s']:.0f} | {r['speedup_vs_float']:.2f}x | "
            f"{statistics.median(rounds):.2f}x ({min(rounds):.2f}-{max(rounds):.2f}) | "
            f"{r['same_predictions']} |")


if __name__ == "__main__":
    main()
