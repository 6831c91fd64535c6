"""``harness``: list suites and checks, run properties (and benchmarks) into a record, report.

    harness list                      suites, their subjects and properties; every registered check
    harness run [PATHS] [options]     properties on every device here -> results/runs/<record>.json
    harness bench [PATHS] [options]   the suites' benchmarks on every device here -> a record
    harness contract SUITE [--template]  what an implementation must provide (or an adapter skeleton)
    harness catalogue                 docs/catalogue.md: every model and the properties it proves;
                                      docs/notes.md: every item of the course notes, its code and checks
    harness conformance               every shipped adapter (torch, scikit-learn, PyG) vs its suite -> a matrix
    harness report [--out PATH]       records (+ asv results) -> one self-contained results/report.html
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, Sequence

SUBCOMMANDS: dict[str, tuple] = {}


def subcommand(name: str, help: str):
    def deco(fn):
        SUBCOMMANDS[name] = (fn, help)
        return fn
    return deco


def _common(p: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        p.add_argument("paths", nargs="*", default=None,
                       help="suite files or directories (default: ./suites, else the suites shipped with the package)")
    else:
        p.add_argument("--suites", dest="paths", action="append", default=None, metavar="PATH",
                       help="suite files or directories to look in (default: suites)")
    p.add_argument("--impl", action="append", default=[], metavar="SUITE=pkg.module:Attr",
                   help="test a third-party implementation in place of SUITE's subject")
    p.add_argument("--strict-contract", action="store_true",
                   help="a third-party subject lacking a name a property needs is an error, not 'not applicable'")


def usage(message: str) -> NoReturn:
    """A usage error: one line on stderr, exit code 2 (as argparse's own)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def _impl(args: argparse.Namespace) -> dict[str, str]:
    from harness.registry import parse_impl

    try:
        return parse_impl(args.impl)
    except ValueError as e:
        usage(f"harness: {e}")


def header(suites: Sequence, cases: Sequence) -> str:
    """What will run: the devices here, what is skipped and why, and each suite's subject."""
    from harness.cases import subject_label
    from harness.context import DEVICES, device_available

    lines = []
    for d in DEVICES:
        ok, why = device_available(d)
        n = sum(c.device == d for c in cases)
        lines.append(f"{d}: " + (f"{n} cases" if ok else f"{n} cases skipped: {why}"))
    lines += [f"suite {s.name}: subject {subject_label(s.subject)}" for s in suites]
    return "\n".join(lines)


def _load(args: argparse.Namespace):
    from harness.api import default_suites
    from harness.runner import UsageError, load_all

    args.paths = args.paths or [default_suites()]
    try:
        suites, errors = load_all(args.paths, _impl(args), strict=getattr(args, "strict_contract", False))
    except UsageError as e:
        usage(f"harness {args.command}: {e}")
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


def _on_terminal() -> bool:
    """Progress as tqdm bars on a terminal; off one (a pipe, a log, CI), one line per suite."""
    return sys.stderr.isatty()


def _reason(text: str) -> str:
    """A skip reason without its parenthesised detail: ``CUDA not available here``."""
    return text.split(" (", 1)[0].strip() or "no reason given"


def _tally(pairs: Sequence[tuple[str, str]]) -> str:
    """``20 passed, 603 skipped (CUDA not available here)``: (status, reason) pairs counted,
    the skips broken down by reason."""
    counts = Counter(status for status, _ in pairs)
    why = Counter(_reason(r) for status, r in pairs if status == "skipped")
    parts = []
    for status, n in sorted(counts.items()):
        if status == "skipped" and why:
            reasons = [w if len(why) == 1 else f"{m} {w}" for w, m in why.most_common()]
            parts.append(f"{n} skipped ({'; '.join(reasons)})")
        else:
            parts.append(f"{n} {status}")
    return ", ".join(parts)


def _bench_status(status: str) -> str:
    return status if status in ("ok", "skipped", "oom", "unsupported dtype") else "error"


@contextmanager
def _bench_suite_lines(enabled: bool):
    """Benchmarks off a terminal: one stderr line per suite as its rows finish (on a terminal
    :func:`harness.executor.run_benchmarks` draws its tqdm bar). Each row goes through
    ``executor.run_bench``, which is wrapped for the duration."""
    from harness import executor

    if not enabled:
        yield
        return
    inner = executor.run_bench
    cur: dict = {"suite": None, "rows": [], "t0": 0.0}

    def flush() -> None:
        if cur["suite"] is not None:
            pairs = [(_bench_status(r.status), r.reason) for r in cur["rows"]]
            print(f"bench {cur['suite']}: {len(pairs)} rows in {time.perf_counter() - cur['t0']:.1f} s: "
                  f"{_tally(pairs)}", file=sys.stderr, flush=True)

    def run_bench(case, **kw):
        if case.suite.name != cur["suite"]:
            flush()
            cur.update(suite=case.suite.name, rows=[], t0=time.perf_counter())
        row = inner(case, **kw)
        cur["rows"].append(row)
        return row

    executor.run_bench = run_bench
    try:
        yield
    finally:
        executor.run_bench = inner
    flush()


@subcommand("run", "run properties on every device here and write a record")
def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from harness.cases import property_cases
    from harness.executor import run_benchmarks, run_property
    from harness.isolation import Worker, timeout_for
    from harness.records import atomic_write_json, make_record, write_new_record
    from harness.runner import applicability

    suites, errors = _load(args)
    skip = set(args.skip_mark)
    cases = [c for s in suites for c in property_cases(s) if not skip & set(c.marks)]
    print(header(suites, cases), file=sys.stderr, flush=True)
    lines = not args.quiet and not _on_terminal()
    last = {c.suite.name: i for i, c in enumerate(cases)}  # a suite's line follows its last case
    order = list(last)
    results = []
    bar = tqdm(cases, unit="case", disable=args.quiet or lines, dynamic_ncols=True, file=sys.stderr)
    t0 = time.perf_counter()
    with Worker(_impl(args)) as worker:
        for i, case in enumerate(bar):
            bar.set_postfix_str(case.nodeid[-60:], refresh=False)
            results.append(run_property(case) if args.in_process else worker.run(case, args.timeout))
            if lines and last[case.suite.name] == i:
                done = [(r.status, r.line) for r in results if r.suite == case.suite.name]
                print(f"[{order.index(case.suite.name) + 1}/{len(order)}] suite {case.suite.name}: "
                      f"{len(done)} cases in {time.perf_counter() - t0:.1f} s: {_tally(done)}",
                      file=sys.stderr, flush=True)
                t0 = time.perf_counter()
    for r in results:
        if r.bad:
            print(f"{r.status.upper()} {r.nodeid} [{r.subject}]: {r.line}", file=sys.stderr)
    bench_rows, extra = [], {}
    if args.bench:
        with _bench_suite_lines(lines):
            bench_rows, extra = run_benchmarks(suites, quick=args.quick, progress=False if args.quiet else None)
    rec = make_record([r.to_dict() for r in results], [b.to_dict() for b in bench_rows], suites,
                      runner="harness run", invalid_suites=[str(e) for e in errors],
                      isolation="in-process" if args.in_process else "worker process",
                      timeout_s={s.name: timeout_for(property_cases(s)[0], args.timeout) for s in suites
                                 if s.properties}, **extra)
    path = atomic_write_json(Path(args.out), rec) if args.out else write_new_record(rec, label=args.label)
    for line in applicability([r.to_dict() for r in results]):
        print(line)
    if args.bench:
        print(f"{len(bench_rows)} benchmark rows: {_tally([(_bench_status(b.status), b.reason) for b in bench_rows])}"
              f" in {extra['bench_info']['seconds']:.1f} s")
    print(f"{len(results)} cases: {_tally([(r.status, r.line) for r in results])} -> {path}")
    if args.report:
        from harness.report import render_report

        print(f"report -> {render_report(extra_records=[path])}")
    return 1 if any(r.bad for r in results) or errors else 0


@subcommand("bench", "time the suites' benchmarks on every device here and write a record")
def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench import summarise
    from harness.cases import bench_cases
    from harness.executor import run_benchmarks
    from harness.records import atomic_write_json, make_record, write_new_record

    suites, errors = _load(args)
    print(header(suites, [c for s in suites for c in bench_cases(s, args.quick, args.k)]), file=sys.stderr, flush=True)
    with _bench_suite_lines(not args.quiet and not _on_terminal()):
        rows, extra = run_benchmarks(suites, quick=args.quick, repeat=args.repeat, select=args.k,
                                     min_run_time=args.min_run_time, progress=False if args.quiet else None)
    print(summarise(rows))
    rec = make_record([], [r.to_dict() for r in rows], suites, runner="harness bench",
                      invalid_suites=[str(e) for e in errors], **extra)
    path = atomic_write_json(Path(args.out), rec) if args.out else write_new_record(rec, label=args.label)
    pairs = [(_bench_status(r.status), r.reason) for r in rows]
    print(f"{len(rows)} benchmark rows: {_tally(pairs)} in {extra['bench_info']['seconds']:.1f} s -> {path}")
    return 1 if errors or any(status == "error" for status, _ in pairs) else 0


@subcommand("contract", "what an implementation must provide for a suite (--template: an adapter skeleton)")
def cmd_contract(args: argparse.Namespace) -> int:
    from difflib import get_close_matches

    from harness.catalogue import contract_text, template

    suites, errors = _load(args)
    by_name = {s.name: s for s in suites}
    if args.suite not in by_name:
        hint = get_close_matches(args.suite, list(by_name), n=1)
        usage(f"harness contract: no suite {args.suite!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
              + f"; suites: {', '.join(sorted(by_name))}")
    suite = by_name[args.suite]
    if suite.contract is None:
        usage(f"harness contract: suite {suite.name!r} declares no contract")
    text = template(suite, suite.contract) if args.template else contract_text(suite, suite.contract)
    if args.out:
        from harness.records import atomic_write_text

        print(f"{'template' if args.template else 'contract'} -> {atomic_write_text(Path(args.out), text)}")
    else:
        sys.stdout.write(text)
    return 0


@subcommand("catalogue", "write the catalogue of models and properties (docs/catalogue.md) and of the notes' items (docs/notes.md)")
def cmd_catalogue(args: argparse.Namespace) -> int:
    from harness.catalogue import catalogue
    from harness.contract import CONTRACTS
    from harness.records import atomic_write_text

    suites, errors = _load(args)
    print(f"catalogue -> {atomic_write_text(Path(args.out), catalogue(suites, CONTRACTS))}")
    if args.notes_items:
        import os

        from harness.catalogue import NotesItemsError, load_notes_items, notes_catalogue

        try:
            items = load_notes_items(args.notes_items, suites)
        except NotesItemsError as e:
            print(e, file=sys.stderr)
            return 1
        rel = os.path.relpath(Path(args.out).resolve(), Path(args.notes_out).resolve().parent)
        print(f"notes -> {atomic_write_text(Path(args.notes_out), notes_catalogue(items, rel))}")
    return 1 if errors else 0


@subcommand("conformance", "run every shipped adapter (conformance/) against its suite, beside the reference")
def cmd_conformance(args: argparse.Namespace) -> int:
    from harness.api import default_suites
    from harness.matrix import adapters, run_matrix, summary
    from harness.records import atomic_write_json, make_record, write_new_record

    entries = [e for e in adapters() if not args.k or args.k in e["name"] or args.k == e["suite"]]
    if not entries:
        usage(f"harness conformance: no adapter matches {args.k!r}; adapters: "
              + ", ".join(f"{e['name']} ({e['suite']})" for e in adapters()))
    suites_dir = Path(args.paths[0]) if args.paths else default_suites()
    rows = run_matrix(suites_dir, entries, progress=lambda s: print(s, file=sys.stderr, flush=True))
    for line in summary(rows):
        print(line)
    rec = make_record(properties=rows, runner="harness conformance", kind="conformance",
                      adapters=[{k: e[k] for k in ("name", "suite", "target", "library")} for e in entries])
    path = (atomic_write_json(Path(args.out), rec) if args.out
            else write_new_record(rec, runs_dir=Path("results/conformance"), label=args.label))
    print(f"{len(rows)} cells -> {path}")
    return 0


@subcommand("compare", "compare two records: benchmark ratios with a significance test, property status changes")
def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import run

    return run(args)


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
        if name != "compare":  # compare reads two records, no suites
            _common(sp, positional=name != "contract")
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
            sp.add_argument("--timeout", type=float, default=None, metavar="S",
                            help="seconds a case may run before it is stopped and recorded as timeout "
                                 "(default: the suite's, else 300)")
            sp.add_argument("--in-process", action="store_true",
                            help="run cases in this process (for debugging): a crash or hang then ends the run")
        elif name == "bench":
            sp.add_argument("--quick", action="store_true", help="smallest batch size only, short timing")
            sp.add_argument("--repeat", type=int, default=1, metavar="N", help="measure every row N times (spread)")
            sp.add_argument("-k", default=None, metavar="TEXT", help="only benchmarks whose 'suite/id' contains TEXT")
            sp.add_argument("--min-run-time", type=float, default=None, metavar="S",
                            help="seconds per measurement (default 0.5; --quick 0.05)")
            sp.add_argument("--out", help="record path (default results/runs/<label>-<time>-<commit>.json)")
            sp.add_argument("--label", default="local", help="record name prefix naming the machine (default local: git-ignored)")
            sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        elif name == "contract":
            sp.add_argument("suite", help="suite name (e.g. rbm)")
            sp.add_argument("--template", action="store_true", help="write a commented adapter skeleton instead")
            sp.add_argument("--out", default=None, help="write to this file instead of stdout")
        elif name == "conformance":
            sp.add_argument("-k", default=None, metavar="TEXT", help="only adapters whose name contains TEXT (or a suite name)")
            sp.add_argument("--out", help="record path (default results/conformance/<label>-<time>-<commit>.json)")
            sp.add_argument("--label", default="local", help="record name prefix naming the machine (default local: git-ignored)")
        elif name == "catalogue":
            sp.add_argument("--out", default="docs/catalogue.md", help="file to write (default docs/catalogue.md)")
            sp.add_argument("--notes-items", default="docs/notes_items.yaml", metavar="YAML",
                            help="the course notes' items to validate and render (default docs/notes_items.yaml; "
                                 "'' to skip)")
            sp.add_argument("--notes-out", default="docs/notes.md", help="file to write the notes' items to "
                            "(default docs/notes.md)")
        elif name == "compare":
            sp.add_argument("old", nargs="?", help="the baseline record (JSON)")
            sp.add_argument("new", nargs="?", help="the record to judge (JSON)")
            sp.add_argument("--runs", default=None, metavar="DIR",
                            help="take the newest run records in DIR for the ones not given (both: the two newest)")
            sp.add_argument("--fail-above", type=float, default=None, metavar="R",
                            help="exit 1 if a benchmark is significantly slower with new/old > R, a timed row "
                                 "no longer runs (oom, error), or a property newly fails")
            sp.add_argument("--factor", type=float, default=None, metavar="F",
                            help="ratios within [1/F, F] count as unchanged (default: --fail-above, else 1.10)")
            sp.add_argument("--alpha", type=float, default=None,
                            help="significance level of the two-sided Mann-Whitney U test on the raw samples "
                                 "(default 0.01)")
            sp.add_argument("--force", action="store_true",
                            help="compare records from different machines, modes (--quick) or subjects anyway")
            sp.add_argument("--only-changed", action="store_true", help="leave out unchanged benchmark pairs")
        elif name == "report":
            sp.add_argument("--runs", default="results/runs", help="directory of run records (default results/runs)")
            sp.add_argument("--asv", default="results/asv", help="asv results directory, used if present (default results/asv)")
            sp.add_argument("--out", default="results/report.html", help="HTML file to write (default results/report.html)")
    return p


def check_outputs(args: argparse.Namespace) -> None:
    """Every path the command will write is checked before anything runs (nothing is lost)."""
    from harness.records import RUNS_DIR, check_output_path

    outs = [getattr(args, "out", None)]
    if args.command in ("run", "bench") and not args.out:
        outs.append(str(RUNS_DIR / "new-record.json"))
    if args.command == "run" and getattr(args, "report", False):
        outs.append("results/report.html")
    for out in filter(None, outs):
        why = check_output_path(out)
        if why:
            usage(f"harness {args.command}: cannot write {out}: {why}")


def main(argv: Sequence[str] | None = None) -> int:
    from harness.context import EnvError, check_env

    args = build_parser().parse_args(argv)
    try:
        check_env()
    except EnvError as e:
        usage(f"harness: {e}")
    check_outputs(args)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
