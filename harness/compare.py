"""``harness compare OLD NEW``: two run records side by side, as a regression gate (in the spirit
of ``asv compare`` and ``pytest-benchmark compare``).

Benchmarks. Rows are paired by (suite, benchmark, device, dtype, batch, subject); the rows of a
``--repeat`` run that share a key are pooled. For each pair: the old and new median seconds per
step (the median of the rows' ``median_s``), ``ratio = new / old``, and a two-sided
Mann-Whitney U test (``scipy.stats.mannwhitneyu``) on the rows' raw per-run samples
(``samples_s``). A record written before rows carried ``samples_s`` has no samples: the test
then falls back to whether the intervals median ± IQR of the two sides overlap (no p-value),
and the line says so (``iqr*``).

A change is *significant* when it is beyond the factor (``ratio > factor`` for a slowdown,
``ratio < 1 / factor`` for a speed-up) and ``p < alpha`` (fallback: the two intervals are
disjoint). Defaults: ``factor`` = :data:`FACTOR` (1.10, as asv; ``--fail-above R`` sets it to R
unless ``--factor`` is given) and ``alpha`` = :data:`ALPHA` (0.01). The samples of one run are
not independent draws (load drifts within a run), so the p-value is optimistic; the factor is
what keeps noise out. With the exact test, n₁ and n₂ samples cannot give a two-sided p below
2 / C(n₁+n₂, n₁): a pair with too few samples to ever reach ``alpha`` is marked ``(n too small)``.

One line per pair, worst first, with asv's markers::

    !  timed in OLD, not in NEW (oom, error, ...)
    +  slower: significant, ratio > factor
    -  faster: significant, ratio < 1 / factor
    ~  beyond the factor but not significant
       (blank) unchanged

Properties. Rows are paired by (suite, property, device, dtype, subject) and their statuses
compared: *newly failing* (OLD not bad, NEW bad; bad = ``failed``, ``error``, ``xpassed``,
``timeout``), *newly passing* (OLD bad, NEW ``passed``), *changed status* (any other change).
Properties in only one record are counted, not gated.

Subjects. A row's ``subject`` is its implementation's label; a row without one (records older
than the field) is the suite's reference implementation, as is every ``... (reference)`` label.

Refusals (exit 2, one line on stderr) unless ``--force``: records from different machines
(``environment`` ``cpu``, ``gpu`` or ``hostname`` differ), different modes (``bench_info.quick``
differs), or different subjects (a row that pairs only when the subject is ignored). A field
missing from either record is not a difference. With ``--force`` the differences are printed and
the comparison goes on. Also exit 2: a file that is missing or not a valid record, or two records
with no benchmark row and no property in common.

Exit code: 0, or with ``--fail-above R`` 1 when any benchmark pair is a significant slowdown with
``ratio > R``, any benchmark row timed in OLD is not timed in NEW (``oom`` or ``error``; a row
skipped in NEW is not counted), or any property is newly failing.
"""
from __future__ import annotations

import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from harness.executor import BAD

ALPHA = 0.01   # significance level of the two-sided Mann-Whitney U test
FACTOR = 1.10  # a ratio within [1/FACTOR, FACTOR] is "unchanged" (asv compare's default factor)
MACHINE_FIELDS = ("hostname", "cpu", "gpu")


class CompareError(Exception):
    """Inputs that cannot be compared: one line, exit code 2."""


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------
def load(path: str | Path) -> dict[str, Any]:
    """The validated record in ``path`` (:func:`harness.records.load_record`), or CompareError."""
    from harness.records import SkippedRecord, load_record

    p = Path(path)
    if not p.exists():
        raise CompareError(f"{p}: no such file")
    if p.is_dir():
        raise CompareError(f"{p} is a directory; give a record file (or --runs DIR)")
    skipped: list[SkippedRecord] = []
    rec = load_record(p, skipped)
    if rec is None:
        raise CompareError(f"{p}: " + (skipped[0].reason if skipped else "empty file (a run still going, or killed?)"))
    return rec


def newest(runs_dir: str | Path, n: int, exclude: Iterable[str] = ()) -> list[str]:
    """The ``n`` newest run records (``kind: run``) in ``runs_dir``, oldest first."""
    from harness.records import load_records

    d = Path(runs_dir)
    if not d.is_dir():
        raise CompareError(f"--runs {d}: not a directory")
    skip = {str(Path(e).resolve()) for e in exclude}
    recs = [r for r in load_records(d) if r.get("kind", "run") == "run" and str(Path(r["_file"]).resolve()) not in skip]
    if len(recs) < n:
        raise CompareError(f"--runs {d}: {len(recs)} run record(s) there, {n} needed")
    return [r["_file"] for r in recs[-n:]]


def subject_of(row: dict[str, Any]) -> str:
    """The row's subject label; ``reference`` for the suite's reference implementation (also
    when the row predates the field)."""
    s = row.get("subject")
    if not isinstance(s, str) or not s or s.endswith("(reference)"):
        return "reference"
    return s


def describe(rec: dict[str, Any]) -> str:
    env = rec.get("environment") or {}
    info = rec.get("bench_info") or {}
    commit = (env.get("git_commit") or "")[:10] or "?"
    parts = [rec.get("_file", "?"), str(rec.get("created", "?")), f"commit {commit}" + (" (dirty)" if env.get("git_dirty") else ""),
             f"host {env.get('hostname', '?')}", str(env.get("cpu") or "?")]
    if env.get("gpu"):
        parts.append(str(env["gpu"]))
    if "quick" in info:
        parts.append("quick" if info["quick"] else "full")
    return "  ".join(parts)


def record_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Machine and mode differences between two records (fields missing on a side are not)."""
    out = []
    eo, en = old.get("environment") or {}, new.get("environment") or {}
    machine = [f"{k} {eo[k]!r} vs {en[k]!r}" for k in MACHINE_FIELDS if k in eo and k in en and eo[k] != en[k]]
    if machine:
        out.append("machine (" + ", ".join(machine) + ")")
    qo, qn = (old.get("bench_info") or {}).get("quick"), (new.get("bench_info") or {}).get("quick")
    if qo is not None and qn is not None and bool(qo) != bool(qn):
        out.append(f"mode (bench_info.quick {bool(qo)} vs {bool(qn)})")
    return out


def _notes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences worth knowing that do not stop a comparison."""
    eo, en = old.get("environment") or {}, new.get("environment") or {}
    io, in_ = old.get("bench_info") or {}, new.get("bench_info") or {}
    out = [f"note: {k} {a.get(k)!r} -> {b.get(k)!r}"
           for a, b, keys in ((eo, en, ("torch", "python", "torch_threads")), (io, in_, ("threads", "min_run_time")))
           for k in keys if k in a and k in b and a[k] != b[k]]
    loads = {tag: [v for r in rec.get("benchmarks") or [] for v in (r.get("load_before"), r.get("load_after"))
                   if isinstance(v, (int, float))] for tag, rec in (("OLD", old), ("NEW", new))}
    if any(loads.values()):
        out.append("note: load average during the rows: " + ", ".join(
            f"{tag} {min(v):.1f}-{max(v):.1f}" if v else f"{tag} not recorded" for tag, v in loads.items())
            + f" (cpu_count {eo.get('cpu_count', '?')}, {en.get('cpu_count', '?')})")
    for tag, rec in (("OLD", old), ("NEW", new)):
        for line in rec.get("_dropped") or []:
            out.append(f"note: {tag} {line}")
    return out


# --------------------------------------------------------------------------------------------
# pairing
# --------------------------------------------------------------------------------------------
def pair(old_rows: Sequence[dict], new_rows: Sequence[dict], ident: tuple[str, ...]):
    """Group rows by ``ident`` + subject and pair the groups: ``(pairs, only_old, only_new,
    subject_changes)``. ``pairs`` maps a key to ``(old rows, new rows)``. A group left over on
    both sides whose ``ident`` matches exactly one group of the other side (the subject
    differs) is paired too, and its ``(suite, old subject, new subject)`` listed."""
    def groups(rows: Sequence[dict]) -> dict[tuple, list[dict]]:
        out: dict[tuple, list[dict]] = {}
        for r in rows:
            out.setdefault((*(r.get(k) for k in ident), subject_of(r)), []).append(r)
        return out

    go, gn = groups(old_rows), groups(new_rows)
    pairs = {k: (go[k], gn[k]) for k in go if k in gn}
    left_o = {k: v for k, v in go.items() if k not in gn}
    left_n = {k: v for k, v in gn.items() if k not in go}
    changes: set[tuple[str, str, str]] = set()
    for ko in list(left_o):
        cands = [kn for kn in left_n if kn[:-1] == ko[:-1]]
        if len(cands) == 1 and sum(k[:-1] == ko[:-1] for k in left_o) == 1:
            kn = cands[0]
            pairs[ko[:-1] + (f"{ko[-1]} -> {kn[-1]}",)] = (left_o.pop(ko), left_n.pop(kn))
            changes.add((str(ko[0]), ko[-1], kn[-1]))
    return pairs, left_o, left_n, sorted(changes)


# --------------------------------------------------------------------------------------------
# benchmarks
# --------------------------------------------------------------------------------------------
@dataclass
class BenchPair:
    name: str
    old_median: float | None
    new_median: float | None
    ratio: float | None = None
    p: float | None = None
    test: str = ""            # "mwu", "iqr*" (fallback), "" (not timed on a side)
    n: tuple[int, int] = (0, 0)
    mark: str = " "
    slower: bool = False      # a significant slowdown (ratio > factor)
    broke: bool = False       # timed in OLD, oom/error in NEW
    notes: list[str] = field(default_factory=list)
    old_status: str = "ok"
    new_status: str = "ok"


def _timed(rows: Sequence[dict]) -> list[dict]:
    return [r for r in rows if r.get("status") == "ok" and _pos(r.get("median_s"))]


def _pos(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _samples(rows: Sequence[dict]) -> list[float] | None:
    """The pooled raw samples of ``rows``, or None when any row lacks them."""
    out: list[float] = []
    for r in rows:
        s = r.get("samples_s")
        if not isinstance(s, list) or not s:
            return None
        out += [float(v) for v in s if _pos(v)]
    return out or None


def _status(rows: Sequence[dict]) -> str:
    st = {str(r.get("status")) for r in rows}
    return "ok" if "ok" in st else sorted(st)[0]


def min_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value the exact Mann-Whitney U test can give for n1, n2 samples."""
    return min(1.0, 2.0 / math.comb(n1 + n2, n1)) if n1 and n2 else 1.0


def bench_pair(name: str, old_rows: Sequence[dict], new_rows: Sequence[dict], *, factor: float, alpha: float) -> BenchPair:
    to, tn = _timed(old_rows), _timed(new_rows)
    mo = statistics.median(r["median_s"] for r in to) if to else None
    mn = statistics.median(r["median_s"] for r in tn) if tn else None
    bp = BenchPair(name, mo, mn, old_status=_status(old_rows), new_status=_status(new_rows))
    if not to or not tn:
        if to and (bp.new_status == "oom" or bp.new_status.startswith("error")):
            bp.mark, bp.broke = "!", True
        elif to:
            bp.notes.append(f"not timed in NEW: {bp.new_status}")
        elif tn:
            bp.notes.append(f"now runs (was {bp.old_status})")
        return bp
    bp.ratio = mn / mo
    so, sn = _samples(to), _samples(tn)
    if so and sn:
        from scipy.stats import mannwhitneyu

        bp.test, bp.n = "mwu", (len(so), len(sn))
        bp.p = float(mannwhitneyu(sn, so, alternative="two-sided").pvalue)
        significant = bp.p < alpha
        if not significant and min_p(*bp.n) >= alpha:
            bp.notes.append("n too small")
    else:
        bp.test = "iqr*"

        def interval(rows: list[dict], med: float) -> tuple[float, float]:
            iqrs = [r["iqr_s"] for r in rows if isinstance(r.get("iqr_s"), (int, float))]
            iqr = statistics.median(iqrs) if iqrs else 0.0
            return med - iqr, med + iqr

        (lo_o, hi_o), (lo_n, hi_n) = interval(to, mo), interval(tn, mn)
        significant = lo_n > hi_o or hi_n < lo_o
    if any(r.get("unstable") for r in (*to, *tn)):
        bp.notes.append("unstable")
    beyond = bp.ratio > factor or bp.ratio < 1 / factor
    if beyond and significant:
        bp.mark = "+" if bp.ratio > 1 else "-"
        bp.slower = bp.ratio > 1
    elif beyond:
        bp.mark = "~"
    return bp


def bench_name(key: tuple) -> str:
    suite, bench, device, dtype, batch, subject = key
    return f"{suite}/{bench} {device} {dtype} b{batch}" + ("" if subject == "reference" else f" [{subject}]")


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    for unit, f in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def _order(bp: BenchPair) -> tuple:
    return ("!+~ -".index(bp.mark) if bp.mark in "!+~-" else 3, -(bp.ratio if bp.ratio is not None else -math.inf), bp.name)


def bench_lines(pairs: list[BenchPair], only_changed: bool) -> list[str]:
    lines = [f"  {'old median':>11} {'new median':>11} {'ratio':>6} {'p':>8}  {'test':<4}  benchmark"]
    for bp in sorted(pairs, key=_order):
        if only_changed and bp.mark == " " and not bp.notes:
            continue
        new = _fmt_s(bp.new_median) if bp.new_median is not None else bp.new_status[:11]
        old = _fmt_s(bp.old_median) if bp.old_median is not None else bp.old_status[:11]
        ratio = f"{bp.ratio:.3f}" if bp.ratio is not None else "-"
        p = f"{bp.p:.2g}" if bp.p is not None else "-"
        notes = f"  ({', '.join(bp.notes)})" if bp.notes else ""
        lines.append(f"{bp.mark} {old:>11} {new:>11} {ratio:>6} {p:>8}  {bp.test:<4}  {bp.name}{notes}")
    return lines


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------
def prop_name(key: tuple) -> str:
    suite, prop, device, dtype, subject = key
    return f"{suite}/{prop} {device} {dtype}" + ("" if subject == "reference" else f" [{subject}]")


def prop_changes(pairs: dict[tuple, tuple[list, list]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"newly failing": [], "newly passing": [], "changed status": []}
    for key in sorted(pairs, key=lambda k: tuple(map(str, k))):
        o, n = pairs[key][0][-1], pairs[key][1][-1]
        so, sn = str(o.get("status")), str(n.get("status"))
        if so == sn:
            continue
        if sn in BAD and so not in BAD:
            kind = "newly failing"
        elif so in BAD and sn == "passed":
            kind = "newly passing"
        else:
            kind = "changed status"
        line = f"{prop_name(key)}: {so} -> {sn}"
        if kind != "newly passing" and n.get("line"):
            line += f": {str(n['line'])[:200]}"
        out[kind].append(line)
    return out


# --------------------------------------------------------------------------------------------
# the comparison
# --------------------------------------------------------------------------------------------
@dataclass
class Result:
    lines: list[str]
    code: int


def compare(old: dict[str, Any], new: dict[str, Any], *, alpha: float = ALPHA, factor: float | None = None,
            fail_above: float | None = None, force: bool = False, only_changed: bool = False) -> Result:
    """Compare two loaded records (see the module doc); raises CompareError for a refusal."""
    factor = factor if factor is not None else (fail_above if fail_above is not None else FACTOR)
    bpairs, b_old, b_new, b_subj = pair(old.get("benchmarks") or [], new.get("benchmarks") or [],
                                        ("suite", "benchmark", "device", "dtype", "batch"))
    ppairs, p_old, p_new, p_subj = pair(old.get("properties") or [], new.get("properties") or [],
                                        ("suite", "property", "device", "dtype"))
    diffs = record_differences(old, new)
    subj = sorted(set(b_subj) | set(p_subj))
    if subj:
        diffs.append("subject (" + ", ".join(f"{s}: {a!r} vs {b!r}" for s, a, b in subj) + ")")
    if diffs and not force:
        raise CompareError("refusing to compare records that differ in " + "; ".join(diffs)
                           + " (--force compares them anyway)")
    if not bpairs and not ppairs:
        raise CompareError("nothing to compare: the records have no benchmark row and no property in common")
    lines = [f"OLD {describe(old)}", f"NEW {describe(new)}"]
    lines += [f"--force: the records differ in {d}" for d in diffs]
    lines += _notes(old, new)

    bps = [bench_pair(bench_name(k), o, n, factor=factor, alpha=alpha) for k, (o, n) in bpairs.items()]
    timed = [bp for bp in bps if bp.ratio is not None or bp.mark == "!" or bp.notes]
    untimed = len(bps) - len(timed)
    if bps:
        lines += ["", f"benchmarks: ratio = new/old median seconds per step; p: two-sided Mann-Whitney U on the "
                      f"per-run samples; '+' slower / '-' faster: ratio beyond {factor:g} (1/{factor:g}) and "
                      f"p < {alpha:g}; '~' beyond {factor:g}, not significant; '!' no longer runs"]
        if any(bp.test == "iqr*" for bp in timed):
            lines.append("  iqr*: a record without raw samples (samples_s): significant = the intervals "
                         "median ± IQR are disjoint, no p-value")
        lines += bench_lines(timed, only_changed)
        count = {m: sum(bp.mark == m for bp in timed) for m in "+-~! "}
        lines.append(f"{len(bps)} benchmark pairs: {count['+']} slower, {count['-']} faster, {count['~']} beyond "
                     f"{factor:g} but not significant, {count[' ']} unchanged, {count['!']} no longer run"
                     + (f", {untimed} not timed on either side" if untimed else ""))
    if b_old or b_new:
        lines.append(f"benchmark rows only in OLD: {len(b_old)}, only in NEW: {len(b_new)}")
        lines += [f"  only in OLD: {bench_name(k)}" for k in sorted(b_old, key=lambda k: tuple(map(str, k)))]
        lines += [f"  only in NEW: {bench_name(k)}" for k in sorted(b_new, key=lambda k: tuple(map(str, k)))]

    changes = prop_changes(ppairs)
    if ppairs or p_old or p_new:
        lines += ["", f"properties: {len(ppairs)} paired: " + ", ".join(f"{len(v)} {k}" for k, v in changes.items())
                  + f"; only in OLD: {len(p_old)}, only in NEW: {len(p_new)}"]
        for kind, items in changes.items():
            lines += [f"  {kind}: {item}" for item in items]
        for key, rows in sorted(p_new.items(), key=lambda kv: tuple(map(str, kv[0]))):
            if str(rows[-1].get("status")) in BAD:
                lines.append(f"  {rows[-1].get('status')} in NEW, absent from OLD (not gated): {prop_name(key)}")

    code = 0
    if fail_above is not None:
        slow = [bp for bp in bps if bp.slower and bp.ratio is not None and bp.ratio > fail_above]
        broke = [bp for bp in bps if bp.broke]
        failing = changes["newly failing"]
        shaky = sum("unstable" in bp.notes for bp in slow)
        why = [f"{len(x)} {what}" for x, what in ((slow, f"significant slowdown(s) above {fail_above:g}"
                                                         + (f" ({shaky} on unstable rows)" if shaky else "")),
                                                   (broke, "benchmark row(s) no longer running"),
                                                   (failing, "newly failing propert(y/ies)")) if x]
        code = 1 if why else 0
        lines += ["", f"gate --fail-above {fail_above:g} (alpha {alpha:g}): " + ("FAIL: " + ", ".join(why) if why else "pass")]
    return Result(lines, code)


def run(args: Any) -> int:
    """``harness compare`` (see :func:`harness.cli.build_parser` for the arguments)."""
    try:
        paths = [p for p in (args.old, args.new) if p]
        if args.runs:
            paths += newest(args.runs, 2 - len(paths), exclude=paths)
        elif len(paths) < 2:
            raise CompareError("give two records (OLD NEW), or --runs DIR for the newest ones there")
        for name, v in (("--alpha", args.alpha), ("--factor", args.factor), ("--fail-above", args.fail_above)):
            if v is not None and not (math.isfinite(v) and (0 < v < 1 if name == "--alpha" else v >= 1)):
                raise CompareError(f"{name} {v}: " + ("between 0 and 1" if name == "--alpha" else "a ratio >= 1"))
        old, new = load(paths[0]), load(paths[1])
        res = compare(old, new, alpha=ALPHA if args.alpha is None else args.alpha, factor=args.factor, fail_above=args.fail_above,
                      force=args.force, only_changed=args.only_changed)
    except CompareError as e:
        print(f"harness compare: {e}", file=sys.stderr)
        return 2
    print("\n".join(res.lines))
    return res.code
