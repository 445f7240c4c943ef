"""The ``bnnas`` command: parse arguments, then call the library.

Every user mistake surfaces as a :class:`BnnasError`, printed as one line on stderr with exit
code 2; nothing here holds logic that the library does not also offer.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bnnas import __version__
from bnnas.config import dump_yaml, from_dict, load_config, parse_model_args, read_yaml
from bnnas.errors import BnnasError, ConfigError, ReportError
from bnnas.interrupt import Interrupted, StopSignals, deferred_signals

log = logging.getLogger("bnnas")

DEMO_EPOCHS = 8


def parse_input_size(text: str) -> tuple[int, int, int]:
    """``"3x224x224"`` -> ``(3, 224, 224)``; anything else is a ConfigError."""
    parts = text.lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) <= 0:
        raise ConfigError(f"malformed --input {text!r}; expected CxHxW, e.g. 3x224x224 or 1x28x28")
    return dims  # type: ignore[return-value]


# ----------------------------------------------------------------------------- summary
def cmd_summary(args: argparse.Namespace) -> int:
    from bnnas.metrics import profile, summary_table
    from bnnas.models import create_model

    input_size = parse_input_size(args.input)
    if args.genotype is not None and args.model is not None:
        raise ConfigError("name a model or pass --genotype FILE, not both")
    if args.model is None and args.genotype is None:
        raise ConfigError("name a model (see `bnnas summary --list`) or pass --genotype FILE")
    if args.pick is not None and args.genotype is None:
        raise ConfigError("--pick chooses a member of a pareto.json; pass it with --genotype")
    num_classes = args.num_classes or (1000 if max(input_size[1:]) > 64 else 10)
    kwargs = parse_model_args(args.arg)
    if args.genotype is not None:
        from bnnas.search.pareto import load_genotype_choice
        from bnnas.space import Network

        genotype, member = load_genotype_choice(args.genotype, args.pick)
        if kwargs:  # --arg cells=20 --arg channels=36: the same cells on another layout
            genotype = genotype.with_layout(**kwargs).validate()
        model = Network.from_genotype(genotype, num_classes, in_channels=input_size[0])
        name = {"model": "genotype", "genotype": str(args.genotype)}
        if member is not None:  # say which member a word like "best" resolved to
            name.update(pick=args.pick, member=member)
    else:
        from bnnas.train.builder import model_kwargs
        from bnnas.train.config import ModelConfig

        # the network `bnnas train` builds at this input size (small stem on small images)
        built = model_kwargs(ModelConfig(name=args.model, args=kwargs), input_size)
        model = create_model(
            args.model, num_classes=num_classes, in_channels=input_size[0], **built
        )
        name = {"model": args.model}
        if built.get("stem") != kwargs.get("stem"):
            name["stem"] = built["stem"]
            if not args.json:
                print(f"{args.model}: stem={built['stem']}, as `bnnas train` builds it for "
                      f"{args.input} inputs (--arg stem=imagenet for the ImageNet stem)")
    result = profile(model, input_size)
    if args.json:
        print(json.dumps({**name, **result.to_dict()}, indent=2))
    else:
        if "member" in name:
            print(f"{args.genotype}: member {name['member']} (--pick {args.pick})")
        print(summary_table(result))
    return 0


# ----------------------------------------------------------------------------- train
def _shortcut_overrides(args: argparse.Namespace, shortcuts: dict[str, object]) -> list[str]:
    """Shortcut flags as ``key=value`` overrides, followed by the explicit ``--set`` ones."""
    overrides = [f"{k}={v}" for k, v in shortcuts.items() if v is not None]
    return overrides + list(args.set)


def _train_overrides(args: argparse.Namespace) -> list[str]:
    return _shortcut_overrides(args, {
        "model.name": args.model,
        "model.genotype": getattr(args, "genotype", None),
        # Quoted so YAML keeps it as typed ("010" is not octal 8); pick() reads digits.
        "model.pick": None if getattr(args, "pick", None) is None else json.dumps(args.pick),
        "data.name": args.data,
        "data.data_dir": args.data_dir,
        "optim.epochs": args.epochs,
        "seed": args.seed,
        "device": args.device,
    })


def cmd_train(args: argparse.Namespace) -> int:
    from bnnas.runs import (
        check_new_run_dir,
        default_run_dir,
        existing_run_dir,
        setup_logging,
    )
    from bnnas.train import TrainConfig, Trainer

    overrides = _train_overrides(args)
    if args.resume is not None:
        if args.config is not None or args.out is not None:
            raise ConfigError("--resume continues a run with its own config; drop --config/--out")
        run_dir = existing_run_dir(args.resume)
        config = load_config(TrainConfig, run_dir / "config.yaml", overrides)
    else:
        config = load_config(TrainConfig, args.config, overrides)
        run_dir = Path(args.out) if args.out else default_run_dir("train")
        check_new_run_dir(run_dir, overwrite=args.overwrite)
    # Data, model and teacher load before anything is written: a run that cannot start
    # leaves no folder behind.
    trainer = Trainer(config, run_dir, progress=not args.no_progress)
    if trainer.dist.is_main:  # under torchrun only rank 0 writes the run folder
        _prepare_run_dir(run_dir, config, args, overrides)
    try:
        setup_logging(run_dir)
        log.info("run folder %s", run_dir)
        if args.resume is not None and not trainer.resume():
            log.info("no checkpoint in %s yet; starting from epoch 1", run_dir)
        result = trainer.fit()
    except Interrupted as stop:
        _print_stopped("train", run_dir, stop)
        return stop.exit_code
    print(f"test accuracy {result['test_acc']:.2f}% after {result['epochs']} epochs; run {run_dir}")
    return 0


def _fresh_line() -> str:
    """A newline on a terminal, where a progress bar may hold the cursor mid-line."""
    return "\n" if sys.stderr.isatty() else ""


def _print_stopped(command: str, run_dir: Path, stop: Interrupted) -> None:
    """The stop line, printed once: by rank 0 of a data-parallel run, the rank that writes
    the checkpoints (another might read the folder before rank 0's last write ends)."""
    from bnnas.distributed import is_main_process

    if is_main_process():
        print(_fresh_line() + stopped_line(command, run_dir, stop), file=sys.stderr)


def stopped_line(command: str, run_dir: Path, stop: Interrupted) -> str:
    """The one line a run stopped by a signal prints: which checkpoint a resume continues
    from (the newest that loads) and the exact command that resumes it."""
    from bnnas.train.checkpoint import latest_checkpoint
    from bnnas.train.mid_epoch import describe_mid_epoch, position
    from bnnas.train.resumable import units_done

    found = latest_checkpoint(run_dir / "checkpoints", lazy=True)  # only its epoch is read
    mid = describe_mid_epoch(run_dir / "checkpoints", None if found is None else
                             position(found[1]))
    if mid is not None:
        where = f"a resume continues from {mid}"
    elif found is None:
        where = "no checkpoint yet, a resume starts from the beginning"
    else:
        path, state = found
        where = f"a resume continues from {path.name} ({units_done(state)} done)"
    return (f"bnnas: stopped by {stop.name}; {where}; resume with: "
            f"bnnas {command} --resume {shlex.quote(str(run_dir))}")


# ----------------------------------------------------------------------------- search
def cmd_search(args: argparse.Namespace) -> int:
    from bnnas.runs import (
        check_new_run_dir,
        default_run_dir,
        existing_run_dir,
        setup_logging,
    )
    from bnnas.search.methods import SEARCH_METHODS

    overrides = _shortcut_overrides(args, {"data.name": args.data,
                                           "data.data_dir": args.data_dir,
                                           "epochs": args.epochs, "seed": args.seed,
                                           "device": args.device})
    if args.resume is not None:
        if args.config is not None or args.out is not None:
            raise ConfigError("--resume continues a run with its own config; drop --config/--out")
        run_dir = existing_run_dir(args.resume)
        method_file = run_dir / "method.txt"
        stored = method_file.read_text().strip() if method_file.is_file() else None
        if stored is None:
            raise ConfigError(f"{str(run_dir)!r} is not a search run folder (no method.txt)")
        if args.method is not None and args.method != stored:
            raise ConfigError(f"{str(run_dir)!r} is a {stored} search; drop --method or use it")
        name = stored
        method = SEARCH_METHODS.get(name)
        overrides = _backend_overrides(args, name, method.config_class) + overrides
        config = load_config(method.config_class, run_dir / "config.yaml", overrides)
    else:
        name = args.method or "ubnas"
        method = SEARCH_METHODS.get(name)
        overrides = _backend_overrides(args, name, method.config_class) + overrides
        config = load_config(method.config_class, args.config, overrides)
        run_dir = Path(args.out) if args.out else default_run_dir(f"search-{name}")
        check_new_run_dir(run_dir, overwrite=args.overwrite)
    if args.print_config:
        print(dump_yaml(config), end="")
        return 0
    runner = method.runner_class(config, run_dir, progress=not args.no_progress)
    if runner.dist.is_main:  # under torchrun only rank 0 writes the run folder
        _prepare_run_dir(run_dir, config, args, overrides, {"method.txt": name})
    try:
        setup_logging(run_dir)
        log.info("%s search in %s", name, run_dir)
        if args.resume is not None and not runner.resume():
            log.info("no checkpoint in %s yet; starting from epoch 1", run_dir)
        result = runner.run()
    except Interrupted as stop:
        _print_stopped("search", run_dir, stop)
        return stop.exit_code
    print(runner.summary_line(result))
    return 0


def _backend_overrides(args: argparse.Namespace, name: str, config_class: type) -> list[str]:
    from bnnas.search.backends import backend_overrides

    return backend_overrides(name, config_class, args.backend, args.ray_address)


# ----------------------------------------------------------------------------- ablate
def cmd_ablate(args: argparse.Namespace) -> int:
    from bnnas.runs import check_new_run_dir, default_run_dir, setup_logging
    from bnnas.search.ablation import run_structure_ablation
    from bnnas.space.structure import STRUCTURE_PRESETS

    if args.resume is not None:
        root = Path(args.resume)
        if not (root / "ablation-args.json").is_file():
            raise ConfigError(f"{str(root)!r} is not an ablation folder (no ablation-args.json)")
        saved = json.loads((root / "ablation-args.json").read_text())
    else:
        root = Path(args.out) if args.out else default_run_dir("ablate")
        check_new_run_dir(root)
        structures = args.structures.split(",") if args.structures else list(STRUCTURE_PRESETS)
        saved = {"config": args.config, "set": list(args.set), "structures": structures,
                 "retrain_epochs": args.retrain_epochs}
        root.mkdir(parents=True, exist_ok=True)
        (root / "ablation-args.json").write_text(json.dumps(saved, indent=2) + "\n")
    setup_logging(root)
    rows = run_structure_ablation(
        root, saved["structures"], saved["config"], saved["set"], saved["retrain_epochs"],
        progress=not args.no_progress,
    )
    print((root / "ablation.md").read_text(), end="")
    print(f"{len(rows)} structures; table in {root / 'ablation.md'}")
    return 0


# ----------------------------------------------------------------------------- eval
def cmd_eval(args: argparse.Namespace) -> int:
    from bnnas.data import BatchLoader, default_eval_transform, load_dataset
    from bnnas.device import select_device
    from bnnas.train import evaluate, latest_checkpoint, load_trained_model
    from bnnas.train.config import DataConfig

    if args.recalibrate_bn is not None and args.recalibrate_bn < 1:
        raise ConfigError("--recalibrate-bn N (N >= 1) re-estimates the BN statistics on N "
                          "batches of training images; leave it out to keep the saved ones")
    target = Path(args.target)
    if target.is_dir():
        checkpoint = target / "final.pt"
        if not checkpoint.is_file():
            found = latest_checkpoint(target / "checkpoints")
            if found is None:
                raise ConfigError(f"{str(target)!r} holds no checkpoint; train first")
            checkpoint = found[0]
    else:
        checkpoint = target
    device = select_device(args.device)
    model, state = load_trained_model(checkpoint, device)
    data = from_dict(DataConfig, state["config"]["data"], prefix="data.")
    name = args.data or data.name
    data_dir = args.data_dir if args.data_dir is not None else data.data_dir
    dataset = load_dataset(name, data_dir, download=data.download)
    if tuple(dataset.input_shape) != tuple(state["meta"]["input_shape"]):
        raise ConfigError(
            f"model expects input {state['meta']['input_shape']}, {name} has "
            f"{list(dataset.input_shape)}; evaluate on data of the shape it was trained on"
        )
    source = dataset.test if args.split == "test" else dataset.train
    loader = BatchLoader(
        source, data.eval_batch_size, shuffle=False,
        transform=default_eval_transform(dataset), device=device,
    )
    out: dict[str, Any] = {"checkpoint": str(checkpoint), "data": name, "split": args.split}
    if args.recalibrate_bn is not None:
        from bnnas.train.batch_norm import recalibrate_on_training_images

        out["recalibrated_on"] = recalibrate_on_training_images(
            model, dataset, data.batch_size, args.recalibrate_bn, device)
    result = evaluate(model, loader, device)
    out.update(result)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    line = f"{name} {args.split}: accuracy {result['acc']:.2f}%  loss {result['loss']:.4f}"
    if args.recalibrate_bn is not None:
        line += f"  (BN statistics re-estimated on {out['recalibrated_on']} training images)"
    print(line)
    return 0


# ----------------------------------------------------------------------------- export
def cmd_export(args: argparse.Namespace) -> int:
    from bnnas.export.fileformat import check_output_path
    from bnnas.export.source import resolve_source

    check_output_path(args.out, overwrite=args.overwrite)  # before any slow loading
    source = resolve_source(args.run_dir, genotype=args.genotype, model=args.model,
                            checkpoint=args.checkpoint, args=parse_model_args(args.arg),
                            pick=args.pick)
    if args.format == "packed":
        from bnnas.export.packed import export_packed

        report = export_packed(source, args.out, overwrite=args.overwrite)
        print("\n".join(report.lines()))
    else:
        from bnnas.export.onnx_export import export_onnx

        path = export_onnx(source, args.out, overwrite=args.overwrite)
        print(f"wrote {path} ({path.stat().st_size} bytes, ONNX; sign = where(x >= 0, 1, -1), "
              "binary convs padded with -1)")
    return 0


# ----------------------------------------------------------------------------- predict
def cmd_predict(args: argparse.Namespace) -> int:
    from bnnas.export.engine import Engine
    from bnnas.export.inputs import dataset_inputs, load_file

    if bool(args.images) == (args.data is not None):
        raise ConfigError("give image files (.npy, .png) or --data NAME, not both or neither")
    if args.limit is not None and (args.data is None or args.limit < 1):
        raise ConfigError("--limit N (N >= 1) takes the first N test images of --data")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.threads is not None and (args.threads < 1 or args.engine != "fast"):
        raise ConfigError("--threads N (N >= 1) sets the threads of --engine fast")
    if args.engine == "fast":
        from bnnas.export.fast import FastEngine
        from bnnas.export.fileformat import read_packed

        engine: Engine = FastEngine(read_packed(args.model_file), args.threads)
    else:
        engine = Engine.load(args.model_file)
    classes = engine.meta.get("classes")

    def name(index: int) -> str:
        known = isinstance(classes, list) and 0 <= index < len(classes)
        return f"{index} ({classes[index]})" if known else str(index)

    if args.data is not None:
        x, labels = dataset_inputs(args.data, args.data_dir, args.limit, engine.input_shape)
        _, predicted = engine.predict(x, args.batch_size)
        for i, (p, y) in enumerate(zip(predicted, labels, strict=True)):
            print(f"test[{i}]: {name(int(p))}  label {name(int(y))}")
        accuracy = 100.0 * float((predicted == labels).mean()) if len(labels) else 0.0
        print(f"{args.data} test: accuracy {accuracy:.2f}% on {len(labels)} images "
              f"({args.engine} engine, {args.model_file})")
        return 0
    for path in args.images:
        x = load_file(path, engine.input_shape, engine.meta.get("normalization"))
        _, predicted = engine.predict(x, args.batch_size)
        for i, p in enumerate(predicted):
            label = path if len(predicted) == 1 else f"{path}[{i}]"
            print(f"{label}: {name(int(p))}")
    return 0


# ----------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from bnnas.metrics import profile, summary_table
    from bnnas.runs import check_new_run_dir, create_run_dir, default_run_dir, setup_logging
    from bnnas.search.config import UBNASConfig
    from bnnas.search.ubnas import UBNASSearch
    from bnnas.train import TrainConfig, Trainer

    root = Path(args.out) if args.out else default_run_dir("demo")
    check_new_run_dir(root, overwrite=args.overwrite)
    search_overrides = [f"epochs={args.search_epochs}"] if args.search_epochs else []
    search_config = load_config(UBNASConfig, packaged_config("ubnas-smoke.yaml"),
                                search_overrides)
    search = UBNASSearch(search_config, root / "search", progress=not args.no_progress)
    create_run_dir(root, overwrite=args.overwrite)
    _start_run(root / "search", search_config, {"method.txt": "ubnas"})
    setup_logging(root / "search")
    log.info("demo 1/2: UBNAS search on %s (%d epochs at most) in %s",
             search_config.data.name, search_config.epochs, root / "search")
    found = search.run()
    genotype = root / "search" / "genotype.json"

    train_config = load_config(TrainConfig, overrides=[
        f"model.genotype={genotype}", f"optim.epochs={args.epochs}",
        f"data.name={search_config.data.name}",
    ])
    trainer = Trainer(train_config, root / "train", progress=not args.no_progress)
    _start_run(root / "train", train_config)
    setup_logging(root / "train")
    log.info("demo 2/2: training the found network from scratch for %d epochs in %s",
             args.epochs, root / "train")
    print(summary_table(profile(trainer.model, trainer.dataset.input_shape)))
    result = trainer.fit()
    stop = f", stopped early by {found['stopped_by']}" if found["stopped_by"] else ""
    print(
        f"\nUBNAS searched {found['epochs_run']} of {found['epochs_budget']} epochs{stop} "
        f"({found['search_seconds']:.0f} s); the found network reached test accuracy "
        f"{result['test_acc']:.2f}% on {train_config.data.name} after {result['epochs']} epochs "
        f"({result['train_seconds']:.0f} s).\nRun folder: {root}"
    )
    return 0


# ----------------------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    from bnnas.report import collect_report, write_report
    from bnnas.report.goals import Goal
    from bnnas.runs import default_run_dir

    if args.goal_ops_of is not None and args.goal_acc is None:
        raise ReportError("--goal-ops-of needs --goal-acc; give both, e.g. --goal-acc 94 "
                          "--goal-ops-of birealnet18/10")
    goal = Goal.parse(args.goal_acc, args.goal_ops_of) if args.goal_acc is not None else None
    report = collect_report(args.run_dirs, title=args.title, literature=args.literature,
                            goal=goal)
    for warning in report.warnings:
        print(f"bnnas: warning: {warning}", file=sys.stderr)
    out = Path(args.out) if args.out else default_run_dir("report")
    written = write_report(report, out)
    print(f"{len(report.rows)} runs, {len(report.summaries)} table rows; "
          f"wrote {written['report.md']} and {written['report.html']}")
    return 0


def packaged_config(name: str) -> Path:
    """A config file shipped inside the package (``bnnas/configs``)."""
    return Path(__file__).resolve().parent / "configs" / name


def _prepare_run_dir(run_dir: Path, config: object, args: argparse.Namespace,
                     overrides: list[str], files: dict[str, str] | None = None) -> None:
    """A fresh run folder (an ``--overwrite``-n one moved aside first), or, on ``--resume``
    with ``--set`` changes, the folder's config rewritten; never interrupted half-way (a stop
    then would leave a folder that cannot be resumed)."""
    from bnnas.runs import create_run_dir, write_text_atomic

    with deferred_signals():
        if args.resume is None:
            if args.overwrite:
                create_run_dir(run_dir, overwrite=True)  # moves the old folder aside
            _start_run(run_dir, config, files)
        elif overrides:
            write_text_atomic(run_dir / "config.yaml", dump_yaml(config))


def _start_run(run_dir: Path, config: object, files: dict[str, str] | None = None) -> None:
    """Create a fresh run folder holding the resolved config, code revision and ``files``."""
    from bnnas.runs import code_revision, create_run_dir, write_text_atomic

    create_run_dir(run_dir)
    write_text_atomic(run_dir / "config.yaml", dump_yaml(config))
    write_text_atomic(run_dir / "revision.txt", code_revision() + "\n")
    for name, text in (files or {}).items():
        write_text_atomic(run_dir / name, text + "\n")


# ----------------------------------------------------------------------------- parser
def _add_run_options(p: argparse.ArgumentParser, command: str, epochs_key: str) -> None:
    """The options every command that makes a run folder shares (train, search)."""
    p.add_argument("--config", help=f"YAML config file (keys: bnnas {command} --print-config)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set seed=1 (repeatable)")
    p.add_argument("--data", help="shortcut for --set data.name=...")
    p.add_argument("--data-dir", help="shortcut for --set data.data_dir=...")
    p.add_argument("--epochs", type=int, help=f"shortcut for --set {epochs_key}=...")
    p.add_argument("--seed", type=int, help="shortcut for --set seed=...")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (shortcut for --set device=...)")
    p.add_argument("--out", help=f"run folder (default runs/{command}-<time>)")
    p.add_argument("--overwrite", action="store_true",
                   help="reuse an existing --out folder (the old one is renamed aside)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--print-config", action="store_true", help="print the resolved config")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bnnas",
        description="Find, train, measure and deploy binary neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"bnnas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("summary", help="cost table of a model: BOPs, FLOPs, OPs, memory")
    p.add_argument("model", nargs="?", help="zoo model name (see `bnnas summary --list`)")
    p.add_argument("--genotype", help="a searched genotype JSON file instead of a model name, "
                   "or a search's pareto.json with --pick")
    p.add_argument("--pick", metavar="N|smallest|best",
                   help="which member of a pareto.json: index, smallest or best (lowest error)")
    p.add_argument("--input", default="3x224x224", help="input size CxHxW (default 3x224x224)")
    p.add_argument("--num-classes", type=int, help="classes (default 1000 above 64 px, else 10)")
    p.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument, e.g. --arg stem=small, or a genotype's "
                   "layout, e.g. --arg cells=20 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--list", action="store_true", help="list the zoo models and exit")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("train", help="train a zoo model or a genotype; checkpoints every epoch")
    p.add_argument("--model", help="shortcut for --set model.name=...")
    p.add_argument("--genotype", metavar="FILE",
                   help="a searched genotype JSON file or a search's pareto.json with --pick "
                   "(shortcut for --set model.genotype=...)")
    p.add_argument("--pick", metavar="N|smallest|best",
                   help="which member of a pareto.json: index, smallest or best (lowest error) "
                   "(shortcut for --set model.pick=...)")
    _add_run_options(p, "train", epochs_key="optim.epochs")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("search",
                       help="search a binary architecture: ubnas, bars, mots or random")
    p.add_argument("--method", help="search method: ubnas (default), bars, mots (MO-TS-BNAS) "
                   "or random (random search over the MO-TS-BNAS space)")
    p.add_argument("--backend",
                   help="where mots/random score candidates: local (default) or ray "
                   "(needs bnnas[ray]; shortcut for --set evolution.backend=...)")
    p.add_argument("--ray-address", metavar="auto|HOST:PORT",
                   help="the Ray cluster for --backend ray: auto (started with `ray start "
                   "--head`) or HOST:PORT; default: a local Ray on this machine's CPUs")
    _add_run_options(p, "search", epochs_key="epochs")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ablate", help="UBNAS op-structure ablation: search + retrain each")
    p.add_argument("--config", help="search config, e.g. configs/ubnas-smoke.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a search config value (repeatable)")
    p.add_argument("--structures", help="comma-separated structure specs (default: presets)")
    p.add_argument("--retrain-epochs", type=int, default=5, help="epochs of each retrain")
    p.add_argument("--out", help="ablation folder (default runs/ablate-<time>)")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted ablation")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser("eval", help="accuracy of a trained run or checkpoint")
    p.add_argument("target", help="run folder or checkpoint file")
    p.add_argument("--data", help="dataset name (default: the one it was trained on)")
    p.add_argument("--data-dir", help="folder of the dataset files")
    p.add_argument("--split", choices=("test", "train"), default="test",
                   help="which split to score (default test)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--recalibrate-bn", type=int, metavar="N",
                   help="first re-estimate the BN statistics on N batches of training images "
                        "(a binary network's running averages can lag its last steps)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="write a trained model as a packed 1-bit file or ONNX")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a bnnas train run folder")
    p.add_argument("--genotype", metavar="FILE", help="a genotype JSON file, or a search's "
                   "pareto.json with --pick (with --checkpoint)")
    p.add_argument("--pick", metavar="N|smallest|best",
                   help="which member of a pareto.json: index, smallest or best (lowest error)")
    p.add_argument("--model", metavar="NAME", help="a zoo model name (with --checkpoint)")
    p.add_argument("--checkpoint", metavar="CKPT", help="a bnnas train checkpoint (.pt)")
    p.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help="zoo model argument or genotype layout change (repeatable)")
    p.add_argument("--format", choices=("packed", "onnx"), default="packed",
                   help="packed: 1 bit per binary weight, for `bnnas predict` (default); onnx: "
                   "for ONNX runtimes (needs bnnas[onnx])")
    p.add_argument("--out", required=True, help="output file, e.g. model.bnn or model.onnx")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("predict", help="classify images with a packed model (numpy engine)")
    p.add_argument("model_file", metavar="MODEL.bnn", help="a file `bnnas export` wrote")
    p.add_argument("images", nargs="*", metavar="IMAGE",
                   help=".npy arrays (uint8 pixels, or normalised floats) or PNG images")
    p.add_argument("--data", help="classify the test split of this dataset and print accuracy")
    p.add_argument("--data-dir", help="folder of the dataset files")
    p.add_argument("--limit", type=int, help="only the first N test images of --data")
    p.add_argument("--batch-size", type=int, default=64, help="images per engine call")
    p.add_argument("--threads", type=int, help="threads of the fast engine (default: all cores)")
    p.add_argument("--engine", choices=("reference", "fast"), default="reference",
                   help="reference: numpy (default); fast: numba kernels (needs bnnas[fast])")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "demo", help="UBNAS search on the bundled data, then train the found net (minutes)"
    )
    p.add_argument("--search-epochs", type=int, help="search epochs (default: smoke config)")
    p.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help="epochs of the retrain")
    p.add_argument("--out", help="run folder (default runs/demo-<time>)")
    p.add_argument("--overwrite", action="store_true",
                   help="reuse an existing --out folder (the old one is renamed aside)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("report", help="table and plots of train/search runs (Markdown, HTML)")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="train or search run folders, folders holding them, or an earlier "
                   "report's rows.json (its rows fill in runs whose folders are not given)")
    p.add_argument("--out", help="report folder (default runs/report-<time>)")
    p.add_argument("--title", default="bnnas report", help="title of the report")
    p.add_argument("--literature", metavar="FILE",
                   help="YAML/JSON list of published results to show beside the measured ones")
    p.add_argument("--goal-acc", type=float, metavar="PCT",
                   help="an accuracy goal: the report says how far each search method's best "
                   "network is from it")
    p.add_argument("--goal-ops-of", metavar="NAME[/N]",
                   help="the goal's OPs bound: the measured network NAME's OPs, divided by N "
                   "(e.g. birealnet18/10)")
    p.set_defaults(func=cmd_report)
    return parser


def _pre_dispatch(args: argparse.Namespace) -> int | None:
    """Flags that print something and exit before the command runs."""
    if args.command == "summary" and args.list:
        from bnnas.models import list_models

        print("\n".join(list_models()))
        return 0
    if args.command == "train" and args.print_config:
        from bnnas.train import TrainConfig

        base = read_yaml(Path(args.resume) / "config.yaml") if args.resume else None
        config = load_config(TrainConfig, args.config, _train_overrides(args), base=base)
        print(dump_yaml(config), end="")
        return 0
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from bnnas.distributed import torchrun_session

        with StopSignals(), torchrun_session():
            early = _pre_dispatch(args)
            return early if early is not None else args.func(args)
    except BnnasError as error:
        print(f"bnnas: error: {error}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(f"bnnas: stopped by {stop.name}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("\nbnnas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
