"""`python -m bench COMMAND` (list, sweep, train, sample, report, perf, regress, baseline, ...): the CLI.

Errors in what the user typed (an unknown name, a bad number, a malformed spec) print one
line starting with 'error:' that names the problem and the valid choices, and exit with 2
before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import NoReturn

import torch

from bench import plugins
from bench.data import DATASETS, DataUnavailable, images
from bench.evaluate import METRICS, ExtractorUnavailable
from bench.nets import NETS
from bench.run import (
    PROFILES,
    Axes,
    ForeignCheckpoint,
    Spec,
    SpecError,
    check_steps,
    check_tolerance,
    load_profile,
    load_spec,
    train_config,
    validate_track,
)
from bench.solvers import SOLVERS
from bench.store import ResultsMismatch
from methods import METHODS
from methods.registry import UnknownNameError

__all__ = ["build_parser", "main"]


def _listing() -> list[str]:
    """One line per name: its kind, name, origin (built-in, a distribution and its version, or a
    plugin's file or module) and what it is."""
    rows = []
    for name, method in METHODS.items():
        source = "needs a Gaussian source" if method.needs_gaussian_source else "any source"
        native = f"; native samplers: {', '.join(method.native_samplers)}" if method.native_samplers else ""
        rows.append(("method", name, METHODS.origin(name), f"{type(method).__name__}, {source}{native}"))
    rows += [("solver", name, SOLVERS.origin(name), solver.description) for name, solver in SOLVERS.items()]
    rows += [("dataset", name, DATASETS.origin(name), dataset.description) for name, dataset in DATASETS.items()]
    rows += [("net", name, NETS.origin(name), f"{factory.description} ({', '.join(factory.kinds)})")
             for name, factory in NETS.items()]  # fmt: skip
    rows += [("metric", name, METRICS.origin(name), metric.description) for name, metric in METRICS.items()]
    rows += [("profile", name, "built-in", "") for name in PROFILES]
    width = max(len(origin) for _kind, _name, origin, _text in rows)
    return [f"{kind:8s} {name:20s} {origin:{width}s} {text}".rstrip() for kind, name, origin, text in rows]


def _base_spec(args: argparse.Namespace):
    return load_spec(args.spec) if args.spec else load_profile(args.profile)


def _single_cell_spec(args: argparse.Namespace, solver: str | None) -> Spec:
    """A one-group spec for `train`/`sample`, using the recipe of the profile's first track
    with datasets of the same kind (2D or images)."""
    METHODS.get(args.method)
    kind = DATASETS.get(args.dataset).kind
    base = _base_spec(args)
    tracks = [t for t in base.tracks if t.kind == kind]
    if not tracks:
        raise SpecError(f"{base.name} has no track of {kind} datasets to take a recipe from; choose another --profile")
    steps = (check_steps(args.steps),) if solver and SOLVERS.get(solver).kind != "adaptive" else ()
    tols = (check_tolerance(args.tol),) if solver and SOLVERS.get(solver).kind == "adaptive" else ()
    axes = Axes((args.method,), (args.dataset,), (args.seed,), (solver,) if solver else (), steps, tols)
    return Spec(f"{base.name}-adhoc", (dataclasses.replace(tracks[0], axes=axes),), base.figures)


def _positive_float(text: str) -> float:
    try:
        return check_tolerance(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"tolerance must be a positive number, got {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        return check_steps(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"steps must be a positive integer, got {text!r}") from None


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}")
    return int(text)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (`-h` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} -h`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda (auto: cuda when torch sees a GPU)")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder with torchvision-format image files, e.g. <root>/MNIST/raw (default: ./data)",
    )
    parser.add_argument("--download", action="store_true", help="let `mnist` be downloaded into --data-root")
    parser.add_argument(
        "--inception-weights",
        type=Path,
        default=None,
        help='the Inception weights file for `extractor = "inception"` (never downloaded)',
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def plugin_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--plugin", action="append", default=[], metavar="PATH|MODULE",
                       help="a local plugin file or module to load (repeatable; see docs/extending.md)")  # fmt: skip
        p.add_argument("--no-plugins", action="store_true",
                       help=f"skip installed plugins (entry points); also {plugins.ENV_NO_PLUGINS}=1")  # fmt: skip

    p = sub.add_parser("list", help="list methods, solvers, datasets, nets, metrics and profiles, with their origins")
    plugin_options(p)
    p = sub.add_parser("check", help="check that methods, solvers, datasets or nets keep their contract")
    p.add_argument("names", nargs="+", metavar="NAME", help="registry names (a plugin's, or built-in)")
    plugin_options(p)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--profile", default="quick", help=f"built-in spec: {', '.join(PROFILES)}")
        p.add_argument("--spec", type=Path, help="a sweep TOML file (overrides --profile)")
        p.add_argument("--results", type=Path, default=Path("results"), help="results root folder")
        plugin_options(p)

    p = sub.add_parser("sweep", help="run every missing cell of a sweep, then build its report")
    common(p)
    p.add_argument("--reports", type=Path, default=Path("reports"), help="plots root folder")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-figures", action="store_true", help="skip computing the report's figures")
    p.add_argument("--executor", default="serial", help="serial, pool (local processes), submitit-local or slurm")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="parallel workers (default: the CPU cores; slurm: 4 jobs)")  # fmt: skip
    p.add_argument("--worker-threads", type=_positive_int, default=None,
                   help="torch threads per worker (default: cores // workers; slurm: --slurm-cpus)")  # fmt: skip
    p.add_argument("--slurm-partition", default=None)
    p.add_argument("--slurm-time", type=_positive_int, default=240, help="minutes per job")
    p.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per job")
    p.add_argument("--slurm-cpus", type=_positive_int, default=4, help="CPUs per job")
    p.add_argument("--slurm-mem-gb", type=_positive_int, default=16)

    for name in ("train", "sample"):
        p = sub.add_parser(name, help=f"{name} one method on one dataset (the profile's recipe)")
        common(p)
        p.add_argument("--method", required=True)
        p.add_argument("--dataset", required=True)
        p.add_argument("--seed", type=_seed, default=0)
        if name == "sample":
            p.add_argument("--solver", required=True)
            p.add_argument("--steps", type=_positive_int, default=8)
            p.add_argument("--tol", type=_positive_float, default=1e-3, help="tolerance for rk45")

    p = sub.add_parser("evaluate", help="measure a network trained elsewhere (a factory and a weights file) under "
                       "every requested solver and step count, beside the sweep's trained cells")  # fmt: skip
    common(p)
    p.add_argument("--weights", type=Path, required=True,
                   help="the network's state dict, read with torch.load(weights_only=True)")  # fmt: skip
    p.add_argument("--net", default=None, help="its network factory (default: the track's; mlp or unet by kind)")
    p.add_argument("--method", required=True, help="the method it was trained with (its velocity is integrated)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--seed", type=_seed, default=0, help="the seed of the source and noise draws")
    p.add_argument("--solvers", nargs="+", default=None, help="default: the track's")
    p.add_argument("--steps", type=_positive_int, nargs="+", default=None, help="default: the track's")
    p.add_argument("--tolerances", type=_positive_float, nargs="+", default=None, help="default: the track's")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="train_set",
                   help="a [train] field of the network, e.g. width=64 (a TOML value; repeatable)")  # fmt: skip
    p.add_argument("--reports", type=Path, default=Path("reports"), help="reports root folder")
    p.add_argument("--no-plots", action="store_true", help="do not rebuild the report")

    p = sub.add_parser("classifier", help="train (once) or load an image dataset's feature-extractor classifier")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--spec", type=Path, help="a sweep file whose [datasets.<name>] tables name the dataset")
    p.add_argument("--results", type=Path, default=Path("results"), help="results root folder")

    p = sub.add_parser("report", help="build reports/<sweep>/index.html and report.md from a sweep's results")
    p.add_argument("--profile", default="quick", help=f"the sweep's name, e.g. {', '.join(PROFILES)}")
    p.add_argument("--results", type=Path, default=Path("results"), help="results root folder")
    p.add_argument("--reports", type=Path, default=Path("reports"), help="reports root folder")
    p.add_argument("--against", type=Path, default=None, metavar="FOLDER",
                   help="compare the sweep with this run folder in the report (default: <results>/baseline "
                   "when it is a run of the same spec)")  # fmt: skip

    p = sub.add_parser("docs", help="write docs/results.md and the README's pictures from a sweep's results and report")
    p.add_argument("--profile", default="quick", help=f"the sweep's name, e.g. {', '.join(PROFILES)}")
    p.add_argument("--results", type=Path, default=Path("results"), help="results root folder")
    p.add_argument("--reports", type=Path, default=Path("reports"), help="reports root folder (for the pictures)")
    p.add_argument("--docs", type=Path, default=Path("docs"), help="the docs folder")

    p = sub.add_parser("groundtruth", help="solver orders on exact fields and a model's W2 split (GMM targets)")
    common(p)
    p.add_argument("--reports", type=Path, default=Path("reports"), help="plots root folder")
    p.add_argument("--dataset", default="gauss-gmm8", help="a dataset with a Gaussian-mixture target")
    p.add_argument("--method", default="iadb", help="the trained method whose W2 is split")
    p.add_argument("--exact", default="exact", help="the exact pseudo-method of the same field")
    p.add_argument("--seed", type=_seed, default=0)

    p = sub.add_parser("perf", help="the harness's own cost vs bare loops and torchdiffeq (results/perf/perf.csv)")
    p.add_argument("--results", type=Path, default=Path("results"), help="results root folder")
    p.add_argument(
        "--repeats",
        type=_positive_int,
        default=None,
        help="interleaved rounds per benchmark (default: as many as fit in about 30 s, 21 to 301)",
    )
    p.add_argument(
        "--only",
        nargs="+",
        default=(),
        help="benchmark names to run, `throughput` for the FLOP/s of "
        "a training step against the machine's peak, `speedups` for faster training steps against the eager one "
        "(default: all)",
    )
    p.add_argument(
        "--quality",
        action="store_true",
        help="instead: W2 vs floor at <= 16 NFE on gauss-moons per 2D method (results/perf/quality.csv)",
    )

    for name, text in (("regress", "rerun the ci profile from nothing and compare it with results/baseline/"),
                       ("baseline", "rerun the ci profile from nothing and make it results/baseline/")):  # fmt: skip
        p = sub.add_parser(name, help=text)
        p.add_argument("--profile", default="ci", help=f"built-in spec: {', '.join(PROFILES)}")
        p.add_argument("--spec", type=Path, help="a sweep TOML file (overrides --profile)")
        p.add_argument("--baseline", type=Path, default=Path("results/baseline"), help="the committed baseline")
        p.add_argument("--results", type=Path, default=Path("results/regress"),
                       help="where the rerun goes (emptied first: the rerun is cold)")  # fmt: skip
        p.add_argument("--workers", type=_positive_int, default=2, help="processes, one torch thread each")
        if name == "regress":
            p.add_argument("--against", type=Path, default=None,
                           help="compare this finished run folder instead of rerunning")  # fmt: skip

    p = sub.add_parser("plot", help="plot a finished sweep's CSV")
    p.add_argument("folder", type=Path, help="a sweep's results folder, e.g. results/quick")
    p.add_argument("--reports", type=Path, default=Path("reports"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.threads is not None and args.threads <= 0:
        parser.error(f"--threads must be positive, got {args.threads}")
    # --threads and --data-root hold for this command; a caller in the same process (a script, a
    # test) gets its own settings back
    threads, settings = torch.get_num_threads(), dataclasses.replace(images.SETTINGS)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    images.configure(data_root=args.data_root, download=args.download)
    try:
        _load_plugins(args)
        return _dispatch(args)
    except (SpecError, UnknownNameError, ResultsMismatch, DataUnavailable, ExtractorUnavailable,
            ForeignCheckpoint, plugins.PluginError) as err:  # fmt: skip
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)
        images.configure(data_root=settings.data_root, download=settings.download)


DISCOVERS_PLUGINS = ("list", "check", "sweep", "train", "sample", "evaluate", "groundtruth", "perf", "classifier")
"""The commands that load installed plugins (entry points); the regression baseline never does."""


def _load_plugins(args: argparse.Namespace) -> None:
    """Installed plugins (unless --no-plugins), then the --plugin files and modules. For `check`,
    a component that breaks its contract is loaded anyway, for check to say what it lacks."""
    lenient = args.command == "check"
    if args.command in DISCOVERS_PLUGINS and not getattr(args, "no_plugins", False):
        plugins.load_entry_points(lenient)
    plugins.load(getattr(args, "plugin", ()), lenient=lenient)


def _check(names: list[str]) -> int:
    from bench.check import check

    results = check(names)
    for result in results:
        print(result.line())
    counts = {status: sum(r.status == status for r in results) for status in ("PASS", "FAIL", "SKIP")}
    print(f"check: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if counts["FAIL"] else 0


def _dispatch(args: argparse.Namespace) -> int:
    from bench import sweep
    from bench.run import resolve as resolve_device
    from bench.sweep import Parallel, executors

    if args.command == "list":
        print("\n".join(_listing()))
        return 0
    if args.command == "check":
        return _check(args.names)
    if args.command == "evaluate":
        return _evaluate(args, resolve_device(args.device))
    if args.command == "plot":
        return _plot(args.folder, args.reports)
    if args.command == "docs":
        return _docs(args)
    if args.command == "report":
        return _report(args.results / args.profile, args.reports, args.against)
    if args.command == "classifier":
        if args.spec:  # registers the sweep file's datasets read from files
            load_spec(args.spec)
        return _classifier(args.dataset, args.results)
    if args.command == "groundtruth":
        return _groundtruth(args)
    if args.command == "perf":
        return _perf(args)
    if args.command in ("regress", "baseline"):
        return _regress(args)
    device = resolve_device(args.device)
    if args.command == "sweep":
        spec = _base_spec(args)
        parallel = Parallel(args.executor, args.workers, args.worker_threads, args.slurm_partition, args.slurm_time,
                            args.slurm_gpus, args.slurm_cpus, args.slurm_mem_gb)  # fmt: skip
        start = time.perf_counter()
        summary = executors.run(spec, args.results, parallel, inception_weights=args.inception_weights, device=device,
                                make_figures=not args.no_figures)  # fmt: skip
        print(f"{spec.name}: {summary}")
        print(f"results: {args.results / spec.name / 'cells.csv'}")
        swept = time.perf_counter() - start
        folder = args.results / spec.name
        rebuilt = not args.no_plots and _build_report(folder, args.reports)
        _record_command(folder, spec.config_hash(), summary, swept, time.perf_counter() - start, rebuilt)
        return 0
    spec = _single_cell_spec(args, getattr(args, "solver", None))
    folder = args.results / spec.name
    if args.command == "sample":
        sweep.run(spec, args.results, inception_weights=args.inception_weights, device=device, make_figures=False)
        import pandas as pd

        rows = pd.read_csv(folder / "cells.csv", keep_default_na=False)
        judges = sweep.build_judges(spec, args.results, inception_weights=args.inception_weights)
        rows = rows[rows.key.isin([c.key for g in sweep.plan(spec, sweep.extractor_ids(judges)) for c in g.cells])]
        columns = ["method", "dataset", "seed", "solver", "steps", "tol", "nfe", "metric", "value", "floor", "vs_floor",
                   "status", "reason"]  # fmt: skip
        print(rows[columns].to_string(index=False))
    else:
        summary = sweep.train_all(spec, args.results, device)
        print(f"{'trained' if summary.trained else 'already trained'}: {args.method} on {args.dataset}, "
              f"seed {args.seed}; checkpoints under {folder / 'checkpoints'}")  # fmt: skip
    return 0


def _evaluate_spec(args: argparse.Namespace) -> Spec:
    """The sweep's track of the dataset's kind, with one group: the method on the dataset, whose
    network is the weights file's; its rows go into the sweep's own results folder."""
    METHODS.get(args.method)
    kind = DATASETS.get(args.dataset).kind
    base = _base_spec(args)
    tracks = [t for t in base.tracks if t.kind == kind]
    if not tracks:
        raise SpecError(f"{base.name} has no track of {kind} datasets to take solvers and an evaluation from; "
                        "choose another --profile or --spec")  # fmt: skip
    track = tracks[0]
    settings = {}
    for item in args.train_set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"--set takes KEY=VALUE (a [train] field), got {item!r}")
        try:
            settings[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            settings[key.strip()] = value  # a bare word: a string
    if args.net is not None:
        settings["net"] = args.net
    weights = args.weights.expanduser().resolve()
    settings["weights"] = str(weights)
    train = train_config(track.train, settings, "--set")
    axes = dataclasses.replace(
        track.axes, methods=(args.method,), datasets=(args.dataset,), seeds=(args.seed,),
        **{key: tuple(value) for key, value in (("solvers", args.solvers), ("steps", args.steps),
                                                 ("tolerances", args.tolerances)) if value is not None})  # fmt: skip
    one = validate_track(dataclasses.replace(track, axes=axes, train=train), f"evaluate {weights.name}")
    return Spec(base.name, (one,), base.figures)


def _evaluate(args: argparse.Namespace, device: torch.device) -> int:
    """`evaluate`: a network trained elsewhere, under the requested solvers and steps, measured into the
    sweep's cells.csv (its rows' `weights` column names the file) and shown in its report."""
    from bench import sweep

    spec = _evaluate_spec(args)
    folder = args.results / spec.name
    summary = sweep.run(spec, args.results, inception_weights=args.inception_weights, device=device,
                        make_figures=False)  # fmt: skip
    import pandas as pd

    rows = pd.read_csv(folder / "cells.csv", keep_default_na=False, dtype=str)
    judges = sweep.build_judges(spec, args.results, inception_weights=args.inception_weights)
    rows = rows[rows.key.isin([c.key for g in sweep.plan(spec, sweep.extractor_ids(judges)) for c in g.cells])]
    columns = ["method", "dataset", "solver", "steps", "tol", "nfe", "metric", "value", "floor", "vs_floor", "status",
               "weights"]  # fmt: skip
    print(rows[columns].to_string(index=False))
    print(f"{spec.name}: {summary}")
    print(f"results: {folder / 'cells.csv'}")
    return 0 if args.no_plots else _report(folder, args.reports)


def _classifier(dataset: str, results_root: Path) -> int:
    from bench.evaluate import EXTRACTORS_FOLDER, obtain_classifier

    if DATASETS.get(dataset).kind != "images":
        images_ = ", ".join(n for n, d in DATASETS.items() if d.kind == "images")
        raise SpecError(f"{dataset} is a 2D dataset; the classifier is for image datasets: {images_}")
    if not DATASETS.get(dataset).labelled:
        raise SpecError(f"{dataset} has no labels, and the classifier trains on them")
    extractor = obtain_classifier(images.load_splits(dataset), results_root / EXTRACTORS_FOLDER)
    print(f"{dataset} classifier: held-out accuracy {extractor.accuracy:.4f}, weights sha256 {extractor.weights_hash}")
    print(f"file: {extractor.path}")
    return 0


def _groundtruth(args: argparse.Namespace) -> int:
    from bench import sweep
    from bench.studies import groundtruth
    from reports.groundtruth import render

    dataset, method, exact = DATASETS.get(args.dataset), METHODS.get(args.method), METHODS.get(args.exact)
    if dataset.mixture is None:
        valid = ", ".join(n for n, d in DATASETS.items() if d.mixture is not None)
        raise SpecError(f"{args.dataset} has no closed-form field; valid datasets: {valid}")
    if not hasattr(exact, "network"):
        valid = ", ".join(n for n, m in METHODS.items() if hasattr(m, "network"))
        raise SpecError(f"{args.exact} is not an exact pseudo-method; valid: {valid}")
    spec = _base_spec(args)
    net = sweep.trained_model(spec, args.results, args.method, args.dataset, args.seed)
    folder = args.results / spec.name / "groundtruth" / args.dataset
    for path in groundtruth.run(dataset, method, net, exact, folder, args.seed):
        print(f"data: {path}")
    for path in render(folder, args.reports / spec.name):
        print(f"report: {path}")
    return 0


def _perf(args: argparse.Namespace) -> int:
    from bench.tools import perf

    if args.quality:
        rows = perf.quality(args.results)
        print(perf.table(rows, ["method", "best_solver", "best_steps", "nfe", "w2", "floor", "w2_vs_floor", "verdict",
                                "train_seconds"]))  # fmt: skip
        print(f"results: {args.results / 'perf' / 'quality.csv'}")
        return 0
    names = [b.name for b in perf.benchmarks(load_profile("quick"), samples=1, sample_steps=1, train_steps=10)]
    extra = ["throughput", "speedups"]
    unknown = [name for name in args.only if name not in [*names, *extra]]
    if unknown:
        raise SpecError(f"unknown benchmark {', '.join(unknown)}; valid: {', '.join([*names, *extra])}")
    ratios = [name for name in args.only if name not in extra]
    if ratios or not args.only:
        rows = perf.run(args.results, repeats=args.repeats, only=tuple(ratios))
        print(perf.table(rows, ["benchmark", "harness_s", "reference_s", "ratio", "ratio_ci95", "target", "verdict",
                                "repeats"]))  # fmt: skip
        print(
            f"results: {args.results / 'perf' / 'perf.csv'} (load average {rows[0]['load_average'] if rows else '?'})"
        )
    if "throughput" in args.only or not args.only:
        rows = perf.throughput(args.results)
        print(perf.table(rows, ["network", "flops_per_step", "step_seconds", "achieved_gflops", "peak_gflops", "ratio",
                                "threads"]))  # fmt: skip
        print(f"results: {args.results / 'perf' / 'throughput.csv'} (achieved FLOP/s of a training step over the "
              "float32 matrix-product peak)")  # fmt: skip
    if "speedups" in args.only or not args.only:
        from bench.tools import speedups

        rows = speedups.run(args.results, repeats=args.repeats)
        print(perf.table(rows, ["candidate", "eager_s", "candidate_s", "per", "speedup", "speedup_ci95",
                                "first_call_s", "repeats"]))  # fmt: skip
        print(f"results: {args.results / 'perf' / 'speedups.csv'} (speedup: the eager step's time per training "
              "sample over the candidate's)")  # fmt: skip
    return 0


def _regress(args: argparse.Namespace) -> int:
    """`regress`: a cold rerun against the baseline, one table, exit 1 on any regression.
    `baseline`: the same rerun, its differences printed, then written as the new baseline."""
    from bench.tools import regress

    if args.command == "regress" and not (args.baseline / "cells.csv").exists():
        raise SpecError(f"no baseline in {args.baseline} (cells.csv is missing); create it with `nox -s baseline`")
    pin = regress.cpu_pin()
    if getattr(args, "against", None) is None and regress.needs_pin(dict(os.environ), pin):
        # The caps are read when torch loads: rerun this command in a child started with them.
        caps = " ".join(f"{key}={value}" for key, value in pin.items())
        print(f"{args.command}: rerunning with the kernels capped at AVX2 ({caps})", flush=True)
        env = {**os.environ, **pin, plugins.ENV_NO_PLUGINS: "1"}  # the baseline is the harness's alone
        return subprocess.run([sys.executable, "-m", "bench", *args.argv], env=env).returncode
    start = time.perf_counter()
    if getattr(args, "against", None) is not None:
        run = args.against
        if not (run / "cells.csv").exists() or not (run / regress.CALIBRATION_FILE).exists():
            raise SpecError(f"{run} is not a finished regress run (cells.csv or {regress.CALIBRATION_FILE} missing)")
    else:
        run = regress.cold_run(_base_spec(args), args.results, args.workers)
    print(f"run: {run} ({time.perf_counter() - start:.0f} s)")
    if not (args.baseline / "cells.csv").exists():
        print(f"no baseline in {args.baseline} yet: nothing to compare")
        rows = []
    else:
        rows = regress.compare_runs(args.baseline, run)
        print(regress.format_table(rows))
        print(regress.summary_line(rows, args.baseline, run))
        if args.command == "regress":  # for the run's report (reports/regression.py)
            notes = [line.removeprefix("note: ") for line in regress.summary_notes(rows, args.baseline, run)]
            regress.write_status(run, args.baseline, rows, notes)
    if args.command == "baseline":
        regress.write_baseline(run, args.baseline)
        print(f"baseline: {args.baseline} rewritten from {run}; commit it")
        return 0
    return 1 if any(row.failed for row in rows) else 0


def _plot(folder: Path, reports_root: Path) -> int:
    from reports.plots import plot_sweep

    for path in plot_sweep(folder / "cells.csv", reports_root / folder.name):
        print(f"plot: {path}")
    return 0


def _docs(args: argparse.Namespace) -> int:
    from reports.docs import write

    folder = args.results / args.profile
    if not (folder / "cells.csv").exists():
        raise SpecError(f"no results in {folder} (cells.csv is missing): run `python -m bench sweep --profile "
                        f"{args.profile}` first")  # fmt: skip
    if _report(folder, args.reports) != 0:
        return 1
    command = "python -m bench docs" + ("" if args.profile == "quick" else f" --profile {args.profile}")
    for path in write(folder, args.reports / args.profile, args.docs, args.results / "perf", command):
        print(f"wrote {path}")
    return 0


def _report_is_current(folder: Path, out_dir: Path) -> bool:
    from reports.stamp import is_current  # not reports.report: its plotting imports cost seconds

    return is_current(folder, out_dir)


def _record_command(
    folder: Path, config_hash: str, summary: object, swept: float, total: float, report_rebuilt: bool
) -> None:
    """One provenance record for the whole `sweep` command: its wall time with the report, and whether it did any
    work (a rerun with nothing changed trains, samples, measures and draws nothing)."""
    from bench.store import ResultStore, provenance

    work = ("trained", "loaded", "sampled", "skipped", "failed", "references", "figures", "fd_references_computed")
    did_work = any(getattr(summary, name) for name in work) or report_rebuilt
    ResultStore(folder).add_provenance(
        {"record": "command", "command": "sweep", "wall_seconds": total, "sweep_seconds": swept,
         "report_seconds": total - swept, "report_rebuilt": report_rebuilt, "did_work": did_work,
         "finished": time.time(), **provenance.collect(config_hash)}
    )  # fmt: skip


def _regression_status(folder: Path, against: Path | None = None) -> None:
    """Write, keep or remove the sweep folder's regression.json, the report's "Regression status" block:
    a comparison with `against`, or with <results>/baseline when it is a run of the same spec."""
    from bench.tools import regress

    if against is not None and not (against / "cells.csv").exists():
        raise SpecError(f"--against {against}: no cells.csv there; name a results folder such as results/baseline")
    status = regress.refresh_status(folder, regress.report_baseline(folder, against))
    if status is not None:
        print(f"regression: against {status['baseline']}, {status['compared']} compared values, "
              f"{len(status['outside'])} outside their band ({folder / regress.STATUS_FILE})")  # fmt: skip


def _report(folder: Path, reports_root: Path, against: Path | None = None) -> int:
    _build_report(folder, reports_root, against)
    return 0


def _build_report(folder: Path, reports_root: Path, against: Path | None = None) -> bool:
    """Build reports_root/<sweep>/ from the sweep folder, its regression status first (a changed
    verdict makes the report stale); False when the report was current and left as it was."""
    if not (folder / "cells.csv").exists():
        raise SpecError(f"no results in {folder} (cells.csv is missing); run `python -m bench sweep` first")
    start = time.perf_counter()
    _regression_status(folder, against)
    if _report_is_current(folder, reports_root / folder.name):
        print(f"report: {reports_root / folder.name / 'index.html'} (unchanged: its inputs are as they were)")
        return False
    from reports.report import build

    index = build(folder, reports_root / folder.name)
    print(f"report: {index} ({time.perf_counter() - start:.1f} s)")
    return True
