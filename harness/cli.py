"""``harness``: list suites and checks, run properties (and benchmarks) into a record, report.

    harness list                      suites, their subjects and properties; every registered check
    harness run [PATHS] [options]     properties on every device here -> results/runs/<record>.json
    harness bench [PATHS] [options]   the suites' benchmarks on every device here -> a record
    harness report [--out PATH]       records (+ asv results) -> one self-contained results/report.html
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

SUBCOMMANDS: dict[str, tuple] = {}


def subcommand(name: str, help: str):
    def deco(fn):
        SUBCOMMANDS[name] = (fn, help)
        return fn
    return deco


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["suites"], help="suite files or directories (default: suites)")
    p.add_argument("--impl", action="append", default=[], metavar="SUITE=pkg.module:Attr",
                   help="test a third-party implementation in place of SUITE's subject")


def _load(args: argparse.Namespace):
    from harness.runner import load_all

    from harness.registry import parse_impl

    try:
        impl = parse_impl(args.impl)
    except ValueError as e:
        raise SystemExit(f"harness: {e}") from None
    suites, errors = load_all(args.paths, impl)
    for e in errors:
        print(e, file=sys.stderr)
    return suites, errors


@subcommand("list", "list suites, subjects, properties and registered checks")
def cmd_list(args: argparse.Namespace) -> int:
    from harness.registry import load_checks

    suites, errors = _load(args)
    for s in suites:
        print(f"{s.path}  suite {s.name}: {s.title}")
        print(f"  subject {s.subject.target}  seed {s.seed}")
        for p in s.properties:
            print(f"  - {p.id} ({p.check}) devices={','.join(p.devices)} dtypes={','.join(p.dtypes)}"
                  + (f" marks={','.join(p.marks)}" if p.marks else ""))
        for b in s.benchmarks:
            print(f"  * bench {b.id}: {b.workload} batch={list(b.batch_sizes)} dtypes={','.join(b.dtypes)}")
    checks = load_checks()
    print(f"\n{len(checks)} registered checks:")
    for name in sorted(checks):
        c = checks[name]
        print(f"  {name}  [{c.module.rsplit('.', 1)[-1]}]  {c.statement}")
    return 1 if errors else 0


@subcommand("run", "run properties on every device here and write a record")
def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from harness.cases import property_cases
    from harness.executor import run_benchmarks, run_property
    from harness.records import atomic_write_json, make_record, new_record_path

    suites, errors = _load(args)
    skip = set(args.skip_mark)
    cases = [c for s in suites for c in property_cases(s) if not skip & set(c.marks)]
    results = []
    bar = tqdm(cases, unit="case", disable=args.quiet or None, dynamic_ncols=True, file=sys.stderr)
    for case in bar:
        bar.set_postfix_str(case.nodeid[-60:], refresh=False)
        results.append(run_property(case))
    counts = Counter(r.status for r in results)
    for r in results:
        if r.bad:
            print(f"{r.status.upper()} {r.nodeid} [{r.subject}]: {r.line}", file=sys.stderr)
    bench_rows, extra = run_benchmarks(suites, quick=args.quick) if args.bench else ([], {})
    rec = make_record([r.to_dict() for r in results], [b.to_dict() for b in bench_rows], suites,
                      runner="harness run", invalid_suites=[str(e) for e in errors], **extra)
    path = atomic_write_json(Path(args.out) if args.out else new_record_path(label=args.label), rec)
    print(f"{len(results)} cases: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" -> {path}")
    if args.report:
        from harness.report import render_report

        print(f"report -> {render_report(extra_records=[path])}")
    return 1 if any(r.bad for r in results) or errors else 0


@subcommand("bench", "time the suites' benchmarks on every device here and write a record")
def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench import summarise
    from harness.executor import run_benchmarks
    from harness.records import atomic_write_json, make_record, new_record_path

    suites, errors = _load(args)
    rows, extra = run_benchmarks(suites, quick=args.quick, repeat=args.repeat, select=args.k,
                                 min_run_time=args.min_run_time, progress=False if args.quiet else None)
    print(summarise(rows))
    rec = make_record([], [r.to_dict() for r in rows], suites, runner="harness bench",
                      invalid_suites=[str(e) for e in errors], **extra)
    path = atomic_write_json(Path(args.out) if args.out else new_record_path(label=args.label), rec)
    counts = Counter(r.status if r.status in ("ok", "skipped", "oom", "unsupported dtype") else "error" for r in rows)
    print(f"{len(rows)} benchmark rows: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
          + f" in {extra['bench_info']['seconds']:.1f} s -> {path}")
    return 1 if errors or counts["error"] else 0


@subcommand("report", "render records (and asv results) into one self-contained HTML file")
def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import render_report

    print(f"report -> {render_report(runs_dir=Path(args.runs), out=Path(args.out), asv_dir=Path(args.asv))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, (fn, help_) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_)
        _common(sp)
        sp.set_defaults(func=fn)
        if name == "run":
            sp.add_argument("--skip-mark", action="append", default=[], metavar="MARK",
                            help="leave out properties with this mark (e.g. slow)")
            sp.add_argument("--out", help="record path (default results/runs/<label>-<time>-<commit>.json)")
            sp.add_argument("--label", default="local", help="record name prefix naming the machine (default local: git-ignored)")
            sp.add_argument("--no-bench", dest="bench", action="store_false", help="properties only")
            sp.add_argument("--no-report", dest="report", action="store_false", help="do not render the HTML report")
            sp.add_argument("--quick", action="store_true", help="benchmarks: smallest batch size only, short timing")
            sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        elif name == "bench":
            sp.add_argument("--quick", action="store_true", help="smallest batch size only, short timing")
            sp.add_argument("--repeat", type=int, default=1, metavar="N", help="measure every row N times (spread)")
            sp.add_argument("-k", default=None, metavar="TEXT", help="only benchmarks whose 'suite/id' contains TEXT")
            sp.add_argument("--min-run-time", type=float, default=None, metavar="S",
                            help="seconds per measurement (default 0.5; --quick 0.05)")
            sp.add_argument("--out", help="record path (default results/runs/<label>-<time>-<commit>.json)")
            sp.add_argument("--label", default="local", help="record name prefix naming the machine (default local: git-ignored)")
            sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        elif name == "report":
            sp.add_argument("--runs", default="results/runs", help="directory of run records (default results/runs)")
            sp.add_argument("--asv", default="results/asv", help="asv results directory, used if present (default results/asv)")
            sp.add_argument("--out", default="results/report.html", help="HTML file to write (default results/report.html)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
