"""Run records (and asv results) -> ONE self-contained HTML file, ``results/report.html``.

No CDN, no JavaScript: tables are HTML built here (or pandas Stylers) with every suite-provided
string escaped, charts are matplotlib PNGs embedded as base64 data URIs, sections fold with
``<details>``. Strings from records are text, never markup: HTML-escaped in the page, and drawn
literally in charts (``$`` escaped so that matplotlib never parses mathtext, TeX off: see
:func:`_lit`).

A record that cannot be used (unreadable, not JSON, not a record, a field of the wrong type)
never stops the page: it is left out and named, with the reason, in a "Skipped records" box
near the top; a record with some malformed rows is used without them, and the box lists them
(:func:`harness.records.validate_record`). Old records (whole rows, no ``subject``, no
``bench_info.quick``) and new ones (compact rows, see :func:`harness.records.compact_record`;
measurement-quality fields) are read alike: a field a record lacks is simply not shown.

Which records are shown: records are never mixed silently. A record's *machine* is its CPU and
GPU model, its *mode* is ``bench_info.quick`` (quick or full; a record without it is full) and a
row's *subject* is its implementation (a row without one is the suite's reference). By default
the page shows, per machine, the latest full record of each suite (properties) and of each
benchmark (throughput) for the reference implementation, and says which records it used. A
quick record is never merged into the full throughput table: quick-only data has its own,
labelled table. Third-party subjects belong to the conformance section. The history chart
compares like with like only (one panel per machine, mode and subject) and draws the noise
band of every point.

Sections: a summary (one row per suite: passed / failed / skipped with the reason / not
applicable, failing suites first, each linking to its matrix); the property matrix per suite
(folded unless it has failures; device columns that are all skipped become one line with the
reason; a failing cell shows its reason and links to its entry under "Failures and errors");
the conformance matrix; throughput per machine (CPU vs CUDA samples/s and the speedup measured
in the same run, ours vs torch's built-in with its interval, fraction of the measured matmul
peak, unstable rows marked, OOM and unsupported-dtype rows as such); charts (samples/s vs batch
per device, speedups, ours vs built-in with error bars, fraction of peak, history across
records and from asv); the environment of each record used.

>>> from harness.report import render_report
>>> render_report()                                   # doctest: +SKIP
PosixPath('results/report.html')
"""
from __future__ import annotations

import base64
import datetime as _dt
import functools
import html
import io
import json
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from harness.records import RUNS_DIR

REPORT_PATH = Path("results") / "report.html"
ASV_DIR = Path("results") / "asv"
CONFORMANCE_DIR = Path("results") / "conformance"
BAD = ("failed", "error", "timeout", "xpassed")  # a property row that goes to "Failures and errors"
STATUS_COLOURS = {"passed": "#d7f5dd", "failed": "#f8c9c4", "error": "#f3a59c", "skipped": "#ececec",
                  "xfailed": "#fbe8b5", "xpassed": "#f8c9c4", "timeout": "#f3a59c", "not_applicable": "#f4f4f4",
                  "circular": "#e4e8f7"}
BENCH_COLOURS = {"ok": "", "ok · unstable": "background-color:#fbe8b5", "oom": "background-color:#fbe8b5",
                 "unsupported dtype": "background-color:#ececec"}
SHORT = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "xfailed": "xfail",
         "xpassed": "XPASS", "timeout": "TIMEOUT", "not_applicable": "n/a", "circular": "circular"}
DEVICE_NAMES = {"cpu": "CPU", "cuda": "CUDA", "mps": "MPS", "xpu": "XPU"}
REASON_CHARS = 90       # a failing cell shows this much of its reason (all of it on hover)
HISTORY_PANELS = 4      # the history chart draws at most this many machine/mode/subject groups ...
HISTORY_SERIES = 6      # ... each with the series measured in the most records
LEGEND_FONT = 9         # points: every legend, tick label and axis label is at least this big

CSS = """
table.conf{border-collapse:collapse;font-size:.8em}table.conf td,table.conf th{border:1px solid #ddd;padding:2px 5px}
table.conf th.rot{height:170px;white-space:nowrap;vertical-align:bottom}
table.conf th.rot span{writing-mode:vertical-rl;transform:rotate(180deg)}
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:1400px;
     color:#1d1d1f;padding:0 16px;line-height:1.4}
h1{font-size:1.7em;margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:2em}
h3{margin-top:1.4em}.sub{color:#666;margin-top:4px}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0 16px}
th,td{border:1px solid #d0d0d0;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f6}td.num,td .num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:14px;flex-wrap:wrap;margin:14px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:150px;background:#fafafa;color:inherit;
      text-decoration:none}
a.card:hover{border-color:#999}
.card b{display:block;font-size:1.6em}.ok{color:#1a7f37}.bad{color:#c62828}
img.chart{max-width:100%;border:1px solid #eee;margin:6px 0 18px}
.note{color:#555;font-size:0.92em}.scroll{overflow-x:auto}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px}
.skipped{border-left:4px solid #c62828;background:#fff6f5;padding:2px 14px;margin:10px 0}
.skipped h3{margin-top:0.6em}.skipped li{font-size:0.92em}
table.summary td.n{text-align:right;font-variant-numeric:tabular-nums}
table.summary tr.fail td:first-child{border-left:4px solid #c62828}
table.summary td.bad{background:#f8c9c4;font-weight:600}
.devskip{background:#f6f6f8;border:1px solid #e2e2e6;border-radius:6px;padding:4px 10px;margin:6px 0;font-size:0.95em}
details.suite{border:1px solid #e2e2e6;border-radius:6px;margin:6px 0;padding:2px 10px}
details.suite[open]{padding-bottom:8px}
details.suite>summary{cursor:pointer;font-weight:600;padding:4px 0}
details.suite>summary .note{font-weight:normal}
details.suite.hasfail{border-left:4px solid #c62828}
table.matrix td{white-space:nowrap}table.matrix td.bad{white-space:normal;min-width:14em;max-width:30em}
table.matrix .why{display:block;font-size:0.9em;color:#5a1a14}
table.fails td.line{white-space:pre-wrap;word-break:break-word}
details.more>summary{cursor:pointer;color:#555}
.tag{display:inline-block;font-size:0.8em;padding:0 5px;border-radius:3px;background:#fbe8b5;color:#6b4b00}
"""


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _slug(text: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def _cut(text: Any, n: int) -> str:
    s = "" if _missing(text) else str(text)
    return s if len(s) <= n else s[: n - 1] + "…"


def load_asv(asv_dir: Path = ASV_DIR) -> list[dict[str, Any]]:
    """asv result rows ``{machine, commit, date, benchmark, params, value}`` from asv's JSON
    results (``results/asv/<machine>/<commit>-<env>.json``), one per parameter combination."""
    import itertools

    rows: list[dict[str, Any]] = []
    asv_dir = Path(asv_dir)
    if not asv_dir.is_dir():
        return rows
    for f in sorted(asv_dir.glob("*/*.json")):
        if f.name == "machine.json":
            continue
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        cols = d.get("result_columns") or ["result", "params"]
        for name, res in (d.get("results") or {}).items():
            if isinstance(res, dict):
                rec = res
            elif isinstance(res, list):
                rec = dict(zip(cols, res))
            else:
                continue
            values = rec.get("result")
            params = rec.get("params") or []
            if values is None:
                continue
            if not isinstance(values, list):
                values = [values]
            combos = list(itertools.product(*params)) if params else [()]
            for combo, v in zip(combos, values):
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    rows.append({"machine": f.parent.name, "commit": str(d.get("commit_hash", ""))[:10],
                                 "date": d.get("date"), "benchmark": name,
                                 "params": ", ".join(str(p).strip("'") for p in combo), "value": float(v)})
    return rows


def _machine(rec_or_row: Any) -> str:
    """A record's (or a frame row's) machine: its CPU and GPU model."""
    env = rec_or_row.get("environment", {}) if isinstance(rec_or_row, dict) and "environment" in rec_or_row else rec_or_row
    env = env if isinstance(env, dict) else {}
    cpu, gpu = env.get("cpu") or "unknown CPU", env.get("gpu")
    return f"{cpu} + {gpu}" if isinstance(gpu, str) and gpu else f"{cpu} (no GPU)"


def record_mode(rec: dict) -> str:
    """``quick`` for a record of a ``--quick`` run (``bench_info.quick``), else ``full``."""
    info = rec.get("bench_info")
    return "quick" if isinstance(info, dict) and info.get("quick") is True else "full"


def subject_key(subject: Any) -> str:
    """``reference`` for a row of the suite's own reference implementation (its subject ends
    with ``(reference)``, or the row predates the field), else the subject's label."""
    if _missing(subject) or str(subject).endswith("(reference)"):
        return "reference"
    return str(subject)


def _machine_order(machine: str) -> tuple:
    return ("no GPU" in machine, machine)


def latest_benchmarks(B) -> dict[str, Any]:
    """Per machine (CPU + GPU name), the rows of each suite benchmark for the reference
    implementation from the newest *full* record that measured it there (a machine with only
    quick records: from the newest quick one): CPU and CUDA rows of one benchmark always come
    from one run, and quick and full runs are never mixed."""
    out: dict[str, Any] = {}
    for g in throughput_groups(B):
        if g.subject == "reference" and g.machine not in out and (g.mode == "full" or g.only_quick):
            out[g.machine] = g.rows
    return out


def latest_properties(P) -> Any:
    """Each suite's property rows *for our reference implementation* from the newest record
    that has them (per machine; full records first). A run against a third-party subject
    (``--impl``) is never merged into the reference's matrix: such runs belong to the
    conformance section."""
    if P is None or P.empty:
        return None
    P = P[[subject_key(s) == "reference" for s in P["subject"]]] if "subject" in P else P
    if P.empty:
        return None
    P = P.copy()
    if "machine" not in P:
        P["machine"] = [_machine({"cpu": c, "gpu": g}) for c, g in zip(P["cpu"], P["gpu"])]
    if "mode" not in P:
        P["mode"] = "full"
    full = P.groupby("machine")["mode"].transform(lambda m: (m == "full").any())
    P = P[(P["mode"] == "full") | ~full]
    newest = P.groupby(["machine", "suite"])["created"].transform("max")
    return P[P["created"] == newest]


@dataclass
class ThroughputGroup:
    """The latest benchmark rows of one machine, subject and mode."""

    machine: str
    subject: str
    mode: str
    rows: Any                 # DataFrame: for each (suite, benchmark), the rows of the newest record
    only_quick: bool = False  # the machine has no full record for this subject

    @property
    def title(self) -> str:
        who = "" if self.subject == "reference" else f" · {self.subject}"
        return f"{self.machine}{who}" + (" · quick run" if self.mode == "quick" else "")


def throughput_groups(B) -> list[ThroughputGroup]:
    """For each machine, subject and mode (full first), the rows of each benchmark from the
    newest record of that mode that measured it there. GPU machines first."""
    if B is None or B.empty:
        return []
    B = B.copy()
    if "machine" not in B:
        B["machine"] = [_machine({"cpu": c, "gpu": g}) for c, g in zip(B["cpu"], B["gpu"])]
    if "mode" not in B:
        B["mode"] = "full"
    B["subject_key"] = [subject_key(s) for s in B["subject"]] if "subject" in B else "reference"
    out = []
    for (machine, subj), g in B.groupby(["machine", "subject_key"], sort=False):
        modes = set(g["mode"])
        for mode in ("full", "quick"):
            m = g[g["mode"] == mode]
            if m.empty:
                continue
            newest = m.groupby(["suite", "benchmark"])["created"].transform("max")
            out.append(ThroughputGroup(machine, subj, mode, m[m["created"] == newest], only_quick="full" not in modes))
    return sorted(out, key=lambda t: (_machine_order(t.machine), t.subject != "reference", t.subject, t.mode != "full"))
_CELL = {"passed": ("pass", "#d7f5dd"), "failed": ("FAIL", "#f8c9c4"), "error": ("ERROR", "#f3a59c"),
         "not_applicable": ("n/a", "#f4f4f4"), "circular": ("circular", "#e4e8f7"), "timeout": ("TIMEOUT", "#f3a59c"),
         "xfailed": ("xfail", "#f4f4f4"), "xpassed": ("XPASS", "#f8c9c4")}
_RANK = ["error", "timeout", "failed", "xpassed", "circular", "passed", "xfailed", "not_applicable"]


def conformance_section(conformance_dir: Path | None) -> list[str]:
    """The newest conformance record as one matrix per suite: rows are implementations
    (our reference first), columns properties; a cell is the worst status over its cases,
    with the reason (and diagnosis) of that case on hover and in the list below."""
    from harness.records import load_records

    recs = [r for r in load_records(Path(conformance_dir)) if r.get("kind") == "conformance"] if conformance_dir else []
    parts = ["<h2 id='conformance'>Conformance matrix</h2>"]
    if not recs:
        return parts + ["<p class='note'>No conformance record (<code>harness conformance</code>).</p>"]
    rec = recs[-1]
    env = rec.get("environment") or {}
    parts.append(f"<p class='note'>From <code>{_e(Path(rec.get('_file', '')).name)}</code> ({_e(rec.get('created'))}, "
                 f"torch {_e(env.get('torch'))}, {_e(_machine(rec))}). Each shipped adapter translates a library's "
                 "interface to the family contract (never the math) and runs the shipped suite. <b>circular</b>: the "
                 "property's oracle is the library under test, so its verdict is not evidence; <b>n/a</b>: the "
                 "library lacks what the property needs.</p>")
    rows = [r for r in rec.get("properties", []) if isinstance(r, dict)]
    for suite in sorted({r.get("suite", "") for r in rows}):
        srows = [r for r in rows if r.get("suite") == suite]
        impls = list(dict.fromkeys(r.get("implementation", "?") for r in srows))
        props = list(dict.fromkeys(r.get("property", "?") for r in srows))
        cells: dict[tuple[str, str], dict] = {}
        def rank(status: Any) -> int:
            return _RANK.index(status) if status in _RANK else 0

        for r in srows:
            key = (r.get("implementation", "?"), r.get("property", "?"))
            if key not in cells or rank(r.get("status")) < rank(cells[key].get("status")):
                cells[key] = r
        head = "".join(f"<th class='rot'><span>{_e(p)}</span></th>" for p in props)
        body = []
        problems = []
        for impl in impls:
            tds = []
            for p in props:
                r = cells.get((impl, p))
                if r is None:
                    tds.append("<td></td>")
                    continue
                label, colour = _CELL.get(r.get("status", ""), (r.get("status", "?"), "#fff"))
                anchor = ""
                if r.get("status") in ("failed", "error", "timeout", "xpassed"):
                    anchor = f"cf-{len(problems)}"
                    problems.append((anchor, impl, p, r))
                    label = f"<a href='#{anchor}'>{label}</a>"
                tds.append(f"<td style='background:{colour}' title='{_e(r.get('line', ''))}'>{label}</td>")
            body.append(f"<tr><th>{_e(impl)}</th>{''.join(tds)}</tr>")
        parts.append(f"<h3>{_e(suite)}</h3><div class='scroll'><table class='conf'><tr><th></th>{head}</tr>"
                     + "".join(body) + "</table></div>")
        if problems:
            parts.append("<ul class='fails'>" + "".join(
                f"<li id='{a}'><b>{_e(impl)}</b> · {_e(p)} [{_e(r.get('device'))}-{_e(r.get('dtype'))}]: {_e(r.get('line', ''))}</li>"
                for a, impl, p, r in problems) + "</ul>")
    return parts



# --------------------------------------------------------------------------------------------
# charts
# --------------------------------------------------------------------------------------------
def _png(fig: Any, tight: bool = True) -> str:
    """``fig`` as an ``<img>`` with the PNG inline; ``tight`` crops it to what is drawn (a
    second drawing pass: a figure laid out by hand does without)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight" if tight else None, pil_kwargs={"compress_level": 3})
    plt.close(fig)
    return ('<img class="chart" alt="chart" src="data:image/png;base64,'
            + base64.b64encode(buf.getvalue()).decode("ascii") + '">')


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _lit(x: Any) -> str:
    """``x`` as text that matplotlib draws literally. Outside TeX mode (see :func:`_chart`),
    matplotlib's only markup is mathtext between unescaped ``$`` signs, and it turns ``\\$`` back
    into ``$`` when a string has no unescaped ``$``: escaping every ``$`` therefore shows any
    string as it is (``$x$``, ``$\\frac{a}{b}$``, a lone ``$``, an existing ``\\$``)."""
    return ("" if x is None else str(x)).replace("$", "\\$")


def _legend(ax: Any, extra: list[tuple[Any, str]] = (), **kw: Any) -> None:
    """A legend of every line drawn with its label as given (passing handles and labels
    explicitly keeps labels that start with ``_``, which ``ax.legend()`` would silently leave
    out), plus ``extra`` (handle, label) pairs for marks actually drawn; never an entry for
    something that is not on the axes."""
    handles = [h for h in ax.get_lines() if len(h.get_xdata())]
    pairs = [(h, h.get_label()) for h in handles] + list(extra)
    if pairs:
        kw.setdefault("fontsize", LEGEND_FONT)
        ax.legend([h for h, _ in pairs], [label for _, label in pairs], **kw)


def _chart(fn: Any) -> Any:
    """Draw (and save) a chart with TeX off whatever the matplotlibrc says, so that the strings
    from records, escaped with :func:`_lit`, are never parsed as markup; every text at least
    :data:`LEGEND_FONT` points."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        import matplotlib

        _plt()
        with matplotlib.rc_context({"text.usetex": False, "font.size": 10, "legend.fontsize": LEGEND_FONT,
                                    "xtick.labelsize": LEGEND_FONT, "ytick.labelsize": LEGEND_FONT,
                                    "axes.titlesize": 10, "axes.labelsize": 10}):
            return fn(*args, **kwargs)
    return wrapper


def device_key(devices: Iterable[str]) -> str:
    """How the lines of the samples/s chart tell devices apart, naming only devices drawn:
    ``CPU dashed, CUDA solid``, ``CPU dashed`` or ``CUDA solid``."""
    devs = sorted(set(devices), key=lambda d: (d != "cpu", d))
    return ", ".join(f"{DEVICE_NAMES.get(d, d)} {'dashed' if d == 'cpu' else 'solid'}" for d in devs)


def _unstable(frame: Any) -> Any:
    import pandas as pd

    if frame is None or "unstable" not in frame:
        return pd.Series(False, index=getattr(frame, "index", None))
    return frame["unstable"].map(lambda v: v is True or v == 1.0)


def _peak_ok(frame: Any) -> Any:
    """Rows whose fraction of peak is a valid number: present, at most 1, not ``peak_valid=False``."""
    f = frame["fraction_of_peak"] if "fraction_of_peak" in frame else None
    if f is None:
        return frame.index == frame.index[:0]
    ok = f.notna() & (f.astype(float) <= 1.0)
    if "peak_valid" in frame:
        ok &= frame["peak_valid"].map(lambda v: v is not False)
    return ok


@_chart
def chart_samples_vs_batch(b) -> str:
    """Small multiples, one panel per suite: samples/s against batch size for each benchmark,
    device (CPU dashed, CUDA solid: only the devices drawn are named) and dtype. Points of
    unstable rows are ringed in red."""
    import matplotlib.lines as mlines

    plt = _plt()
    ok = b[b["status"] == "ok"].copy()
    ok["unstable_"] = _unstable(ok)
    suites = sorted(ok["suite"].unique())
    if not suites:
        return ""
    ncol = min(2, len(suites))
    nrow = math.ceil(len(suites) / ncol)
    height = 3.0 * nrow + 0.9
    fig, axes = plt.subplots(nrow, ncol, figsize=(8.2 * ncol, height), squeeze=False)
    # laid out by hand (tight_layout and a tight crop cost a drawing pass each): every panel
    # has room on its right for its legend
    fig.subplots_adjust(left=0.7 / (8.2 * ncol), right=1 - 3.0 / (8.2 * ncol), wspace=3.6 / 4.5, hspace=0.55,
                        top=1 - 0.35 / height, bottom=0.55 / height)
    ringed = False
    # one pass over the rows (a groupby per line costs more than drawing it)
    lines: dict[str, dict[tuple, dict[Any, list]]] = {}
    for suite, bench, dev, dtype, batch, sps, uns in zip(ok["suite"], ok["benchmark"], ok["device"], ok["dtype"],
                                                         ok["batch"], ok["samples_per_s"], ok["unstable_"]):
        if not _missing(sps):
            lines.setdefault(suite, {}).setdefault((str(bench), str(dev), str(dtype)), {}).setdefault(batch, []).append((sps, uns))
    for ax, suite in zip(axes.flat, suites):
        for (bench, dev, dtype), by_batch in sorted(lines.get(suite, {}).items()):
            xs = sorted(by_batch)
            ys = [statistics.median(v for v, _ in by_batch[x]) for x in xs]
            ax.plot(xs, ys, marker="o", ms=3, ls="-" if dev != "cpu" else "--", label=_lit(f"{bench} {dev} {dtype}"))
            u = [(x, y) for x, y in zip(xs, ys) if any(flag for _, flag in by_batch[x])]
            if u:
                ax.scatter([x for x, _ in u], [y for _, y in u], s=60, facecolors="none", edgecolors="#d62728",
                           linewidths=1.4, zorder=3)
                ringed = True
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.minorticks_off()
        ax.set_title(_lit(suite))
        ax.grid(True, which="major", alpha=0.3)
    for ax, suite in zip(axes.flat, suites):
        extra = []
        if ringed and ax.collections:
            extra.append((mlines.Line2D([], [], ls="none", marker="o", mfc="none", mec="#d62728", ms=7),
                          "unstable (spread above threshold)"))
        _legend(ax, extra, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    for ax in axes.flat[len(suites):]:
        ax.axis("off")
    fig.supxlabel("batch size", y=0.1 / height)
    fig.supylabel("samples / s", x=0.05 / (8.2 * ncol))
    return _png(fig, tight=False)


@dataclass
class Bars:
    """One series of a bar chart: its values per label (None: no bar), unstable flags and
    optional (low, high) error bars."""

    name: str
    values: list[Any]
    flags: list[bool] = field(default_factory=list)
    err: tuple[list[Any], list[Any]] | None = None


@_chart
def _barh(labels: list[str], values: list[float] | list[Bars], title: str, xlabel: str, ref: float | None = None,
          log: bool = False, lower_is_better: bool = False, flags: list[bool] | None = None,
          err: tuple[list[float], list[float]] | None = None, key: str = "", bad_label: str = "") -> str:
    """Horizontal bars, one row per label; ``values`` is one series, or several :class:`Bars`
    (e.g. one per device) drawn side by side in each row, with a legend naming only the
    series drawn. With ``ref``, bars on the bad side of it are red (one unnamed series) or
    outlined red (named series), and ``bad_label`` names them in the legend; ``flags``
    (unstable rows) are hatched and say so in the legend; ``err`` draws (low, high) error bars. ``labels`` come from records: they are drawn literally
    (:func:`_lit`); ``title``, ``xlabel`` and ``key`` (a line under the title) are ours."""
    import matplotlib.patches as mpatches

    plt = _plt()
    if not labels:
        return ""
    series = values if values and isinstance(values[0], Bars) else [Bars("", list(values), flags or [], err)]
    series = [b for b in series if any(not _missing(v) for v in b.values)]
    if not series:
        return ""
    n = len(series)
    height = 0.8 / n
    fig, ax = plt.subplots(figsize=(10, (0.22 + 0.12 * n) * len(labels) + 1.6))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    handles = []
    hatched = any_bad = False
    for k, bs in enumerate(series):
        ys = [i - 0.4 + height * (k + 0.5) for i in range(len(labels))]
        pts = [(y, v, f) for y, v, f in zip(ys, bs.values, bs.flags or [False] * len(labels)) if not _missing(v)]
        bad = [ref is not None and not (v <= ref if lower_is_better else v >= ref) for _, v, _ in pts]
        any_bad = any_bad or any(bad)
        if not bs.name:
            colours = ["#d62728" if b else "#1f77b4" for b in bad]
            edges = ["none"] * len(pts)
        else:
            colours = [palette[k % len(palette)]] * len(pts)
            edges = ["#d62728" if b else "none" for b in bad]
        bars = ax.barh([y for y, _, _ in pts], [v for _, v, _ in pts], height=height * 0.95, color=colours,
                       edgecolor=edges, linewidth=2, label=_lit(bs.name) if bs.name else "_bars")
        for bar, (_, _, flagged) in zip(bars, pts):
            if flagged:
                bar.set_hatch("///")
                hatched = True
        if bs.name:
            handles.append((mpatches.Patch(color=palette[k % len(palette)]), _lit(bs.name)))
        if bs.err is not None:
            lo, hi = bs.err
            xs = [(y, v, v - a, c - v) for y, v, a, c in zip(ys, bs.values, lo, hi)
                  if not (_missing(v) or _missing(a) or _missing(c))]
            if xs:
                ax.errorbar([v for _, v, _, _ in xs], [y for y, _, _, _ in xs],
                            xerr=[[max(0.0, a) for _, _, a, _ in xs], [max(0.0, c) for _, _, _, c in xs]],
                            fmt="none", ecolor="k", elinewidth=1, capsize=3)
    flagged_rows = [any((b.flags or [False] * len(labels))[i] for b in series) for i in range(len(labels))]
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([_lit(x) + (" (unstable)" if f else "") for x, f in zip(labels, flagged_rows)])
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first label on top, no empty margin
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:g}")[0] in "125" else ""))
    if ref is not None:
        ax.axvline(ref, color="k", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_title(title + (f"\n{key}" if key else ""))
    ax.grid(True, axis="x", alpha=0.3)
    if any_bad and bad_label:
        named = any(b.name for b in series)
        handles.append((mpatches.Patch(facecolor="white" if named else "#d62728", edgecolor="#d62728", linewidth=2),
                        bad_label))
    if hatched:
        handles.append((mpatches.Patch(facecolor="#cccccc", hatch="///", edgecolor="#6b4b00"),
                        "unstable (spread above threshold)"))
    if handles:
        ax.legend([h for h, _ in handles], [t for _, t in handles], fontsize=LEGEND_FONT, loc="lower right")
    return _png(fig)


def _largest_batch(frame: Any, keys: list[str]) -> Any:
    """The rows of each ``keys`` group at its largest batch size."""
    if frame.empty:
        return frame
    top = frame.groupby(keys, dropna=False)["batch"].transform("max")
    return frame[frame["batch"] == top]


def _by_device(s: Any, value: str, keys: list[str], label: Any, err: tuple[str, str] | None = None) -> tuple[list[str], list[Bars]]:
    """Rows of ``s`` as labels (one per ``keys`` group, in order) and one :class:`Bars` per device."""
    devices = sorted(s["device"].unique(), key=lambda d: (d != "cpu", d))
    groups = list(dict.fromkeys(tuple(r) for r in s[keys].itertuples(index=False)))
    by_key = {(tuple(getattr(r, k) for k in keys), r.device): r for r in s.itertuples(index=False)}
    series = []
    for dev in devices:
        rows = [by_key.get((g, dev)) for g in groups]
        series.append(Bars(DEVICE_NAMES.get(dev, dev), [getattr(r, value) if r is not None else None for r in rows],
                           [bool(r.unstable) if r is not None else False for r in rows],
                           ([getattr(r, err[0]) if r is not None else None for r in rows],
                            [getattr(r, err[1]) if r is not None else None for r in rows]) if err else None))
    return [label(dict(zip(keys, g))) for g in groups], series


def chart_speedup(t) -> str:
    """CUDA over CPU samples/s of each benchmark at its largest batch (same run)."""
    if t is None or "speedup" not in t or t["speedup"].dropna().empty:
        return ""
    s = _largest_batch(t.dropna(subset=["speedup"]), ["suite", "benchmark", "dtype"])
    labels = [f"{r.suite}/{r.benchmark} {r.dtype} b{r.batch}" for r in s.itertuples()]
    flags = [bool(x) for x in s["unstable"]] if "unstable" in s else None
    return _barh(labels, list(s["speedup"]), "CUDA over CPU (same run), each benchmark at its largest batch",
                 "speedup (×)", ref=1.0, log=True, flags=flags, bad_label="CUDA slower than CPU (< 1)")


def chart_builtin(b) -> str:
    """Ours / built-in per benchmark at its largest batch, one bar per device, with the 95%
    interval of ``builtin_ratio_ci`` as error bars where the record has it; unstable rows
    hatched."""
    import pandas as pd

    s = b[(b["status"] == "ok") & b["builtin_ratio"].notna()] if "builtin_ratio" in b else b.iloc[0:0]
    if s.empty:
        return ""
    s = _largest_batch(s.copy(), ["suite", "benchmark", "device", "dtype"])
    s["unstable_"] = _unstable(s)
    ci = s["builtin_ratio_ci"] if "builtin_ratio_ci" in s else pd.Series(None, index=s.index)
    s["ci_lo"] = [c[0] if isinstance(c, (list, tuple)) and len(c) == 2 and c[0] is not None else math.nan for c in ci]
    s["ci_hi"] = [c[1] if isinstance(c, (list, tuple)) and len(c) == 2 and c[1] is not None else math.nan for c in ci]
    s = s.groupby(["suite", "benchmark", "builtin", "device", "dtype", "batch"], as_index=False, dropna=False).agg(
        builtin_ratio=("builtin_ratio", "median"), ci_lo=("ci_lo", "min"), ci_hi=("ci_hi", "max"),
        unstable=("unstable_", "any"))
    labels, series = _by_device(s, "builtin_ratio", ["suite", "benchmark", "builtin", "dtype", "batch"],
                                lambda g: f"{g['suite']}/{g['benchmark']} {g['dtype']} b{g['batch']} vs {g['builtin']}",
                                err=("ci_lo", "ci_hi"))
    has_ci = s["ci_lo"].notna().any()
    return _barh(labels, series, "ours / torch built-in (median time; < 1 = ours faster), at the largest batch",
                 "time ratio", ref=1.0, log=True, lower_is_better=True, bad_label="ours slower (> 1)",
                 key="error bars: 95% interval of the ratio (interleaved runs)" if has_ci else "")


def chart_peak(b) -> str:
    """Percent of the measured matmul peak of each benchmark at its largest batch, one bar per
    device; a row flagged ``peak_valid=False`` (or above 100%) is never drawn as a valid value:
    it is left out and counted in the title. Rows without counted FLOPs have no fraction and
    are not drawn."""
    import pandas as pd

    s = b[(b["status"] == "ok")] if "fraction_of_peak" in b else b.iloc[0:0]
    if s.empty:
        return ""
    s = s.copy()
    if "flops_per_step" in s:  # no FLOPs counted (no matmul, convolution or attention): no fraction to show
        s = s[pd.to_numeric(s["flops_per_step"], errors="coerce").fillna(0) > 0]
        if s.empty:
            return ""
    valid = _peak_ok(s)
    flagged = s["peak_valid"].map(lambda v: v is False) if "peak_valid" in s else False
    invalid = s[~valid & (s["fraction_of_peak"].notna() | flagged)]
    s = _largest_batch(s[valid], ["suite", "benchmark", "device", "dtype"])
    if s.empty:
        return ""
    s["unstable_"] = _unstable(s)
    s = s.groupby(["suite", "benchmark", "device", "dtype", "batch"], as_index=False).agg(
        fraction_of_peak=("fraction_of_peak", "median"), unstable=("unstable_", "any"))
    s["percent"] = 100 * s["fraction_of_peak"]
    labels, series = _by_device(s, "percent", ["suite", "benchmark", "dtype", "batch"],
                                lambda g: f"{g['suite']}/{g['benchmark']} {g['dtype']} b{g['batch']}")
    key = (f"{len(invalid)} row(s) above the measured peak left out (peak not valid)" if len(invalid) else "")
    return _barh(labels, series, "fraction of the measured matmul peak (model FLOPs, a lower bound), at the largest batch",
                 "% of peak", key=key)


def _band(rows: list[tuple[Any, Any, Any, Any]]) -> tuple[float, float, float, bool]:
    """(median, low, high, unstable) of one series at one record from its rows' ``(median_s,
    iqr_s, samples_s, unstable)``: the median of the rows' ``median_s``; the band is the
    interquartile range of the pooled ``samples_s`` when the rows carry them, else median ±
    IQR / 2."""
    import numpy as np

    med = float(np.median([m for m, _, _, _ in rows]))
    samples = [x for _, _, s, _ in rows if isinstance(s, list) for x in s if isinstance(x, (int, float))]
    if len(samples) >= 4:
        lo, hi = (float(v) for v in np.percentile(samples, [25, 75]))
    else:
        iqr = [float(i) for _, i, _, _ in rows if not _missing(i)]
        half = float(np.median(iqr)) / 2 if iqr else 0.0
        lo, hi = med - half, med + half
    unstable = any(u is True or u == 1.0 for _, _, _, u in rows)
    return med, max(lo, 1e-12), max(hi, 1e-12), unstable


def _ticks(ax: Any, labels: list[str], most: int = 12) -> None:
    step = max(1, math.ceil(len(labels) / most))
    idx = list(range(0, len(labels), step))
    ax.set_xticks(idx)
    ax.set_xticklabels([_lit(labels[i]) for i in idx], rotation=30, ha="right")


def history_groups(bench_all: Any) -> list[tuple[tuple[str, str, str], Any]]:
    """Groups of ok benchmark rows that may be compared: one machine, one mode, one subject,
    measured in at least two records; full mode first, then the most records."""
    if bench_all is None or bench_all.empty or "commit" not in bench_all:
        return []
    ok = bench_all[(bench_all["status"] == "ok") & bench_all["median_s"].notna()]
    if ok.empty:
        return []
    ok = ok.copy()
    ok["machine"] = ok["machine"] if "machine" in ok else [_machine({"cpu": c, "gpu": g}) for c, g in zip(ok["cpu"], ok["gpu"])]
    ok["mode"] = ok["mode"] if "mode" in ok else "full"
    ok["subject_key"] = [subject_key(s) for s in ok["subject"]] if "subject" in ok else "reference"
    groups = [(key, g) for key, g in ok.groupby(["machine", "mode", "subject_key"], sort=False) if g["record"].nunique() > 1]
    return sorted(groups, key=lambda kg: (kg[0][1] != "full", -kg[1]["record"].nunique(), kg[0]))


def changed_most(g: Any, xs: dict[str, int], top: int = HISTORY_SERIES) -> list[str]:
    """The ``top`` series of a history group worth a look: among those measured in at least half
    of the group's records, the ones whose median seconds per step moved most between the
    first and the last third of their records (a regression or a speed-up first), by name."""
    import numpy as np

    per: dict[str, list[tuple[int, float]]] = {}
    for name, rec, med in zip(g["series"], g["record"], g["median_s"]):
        per.setdefault(name, []).append((xs[rec], float(med)))
    most = max(len({x for x, _ in v}) for v in per.values())
    score = {}
    for name, pts in per.items():
        if len({x for x, _ in pts}) * 2 < most:
            continue
        pts.sort()
        third = max(1, len(pts) // 3)
        first, last = np.median([m for _, m in pts[:third]]), np.median([m for _, m in pts[-third:]])
        score[name] = abs(math.log(last / first)) if first > 0 and last > 0 else 0.0
    return sorted(sorted(score, key=lambda n: (-score[n], n))[:top])


@_chart
def chart_history(bench_all, asv_rows: list[dict]) -> str:
    """Seconds per step across records, one panel per machine, mode and subject (like with like
    only), the :data:`HISTORY_SERIES` series that changed most in each (:func:`changed_most`),
    each point with its noise band (:func:`_band`) and unstable points ringed; and asv's
    history, one panel per asv machine."""
    import matplotlib.lines as mlines
    import pandas as pd

    plt = _plt()
    panels: list[tuple[str, Any]] = [("records", kg) for kg in history_groups(bench_all)[:HISTORY_PANELS]]
    if asv_rows:
        a = pd.DataFrame(asv_rows)
        for machine, g in list(a.groupby("machine", sort=True))[:2]:
            panels.append(("asv", (machine, g)))
    if not panels:
        return ""
    ncol = min(2, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(8 * ncol, 6.6 * nrow), squeeze=False)
    for ax, (what, item) in zip(axes.flat, panels):
        ringed = False
        if what == "records":
            (machine, mode, subj), g = item
            g = g.copy()
            g["series"] = (g["suite"].astype(str) + "/" + g["benchmark"].astype(str) + " " + g["device"].astype(str)
                           + " " + g["dtype"].astype(str) + " b" + g["batch"].astype(str))
            order = g.drop_duplicates("record").sort_values("created")
            xs = {k: i for i, k in enumerate(order["record"])}
            names = changed_most(g, xs)
            cols = [g[c] if c in g else [None] * len(g) for c in ("median_s", "iqr_s", "samples_s", "unstable")]
            points: dict[tuple[str, str], list] = {}
            wanted = set(names)
            for name, rec, *vals in zip(g["series"], g["record"], *cols):
                if name in wanted:
                    points.setdefault((name, rec), []).append(tuple(vals))
            for name in names:
                pts = sorted((xs[rec], *_band(rows)) for (n, rec), rows in points.items() if n == name)
                x = [p[0] for p in pts]
                line, = ax.plot(x, [p[1] for p in pts], marker="o", ms=3, label=_lit(name))
                ax.fill_between(x, [p[2] for p in pts], [p[3] for p in pts], color=line.get_color(), alpha=0.18, lw=0)
                u = [p for p in pts if p[4]]
                if u:
                    ax.scatter([p[0] for p in u], [p[1] for p in u], s=60, facecolors="none", edgecolors="#d62728",
                               linewidths=1.4, zorder=3)
                    ringed = True
            _ticks(ax, [f"{c or '?'} {str(t)[5:16]}" for c, t in zip(order["commit"], order["created"])])
            who = "" if subj == "reference" else f" · {subj}"
            ax.set_title(_lit(f"{machine} · {mode} runs{who}: {len(order)} records, the series that moved most"))
        else:
            machine, a = item
            a = a.copy()
            a["series"] = (a["benchmark"].str.replace("suites.", "", regex=False)
                           .str.replace(".time_step", "", regex=False) + " [" + a["params"] + "]")
            order = a.drop_duplicates("commit").sort_values("date")
            xs = {k: i for i, k in enumerate(order["commit"])}
            names = sorted(a.groupby("series")["commit"].nunique().sort_values(ascending=False, kind="stable").index[:HISTORY_SERIES])
            for name in names:
                s = a[a["series"] == name].groupby("commit", as_index=False)["value"].median()
                s["x"] = s["commit"].map(xs)
                s = s.sort_values("x")
                ax.plot(s["x"], s["value"], marker="o", ms=3, label=_lit(name))
            _ticks(ax, [str(c)[:8] for c in order["commit"]])
            ax.set_title(_lit(f"asv on {machine}: seconds per step across commits"))
        ax.set_yscale("log")
        ax.minorticks_off()
        ax.set_ylabel("seconds per step")
        ax.grid(True, which="major", alpha=0.3)
        extra = []
        if ringed:
            extra.append((mlines.Line2D([], [], ls="none", marker="o", mfc="none", mec="#d62728", ms=7), "unstable"))
        if what == "records" and ax.collections:
            from matplotlib.patches import Patch

            extra.append((Patch(facecolor="#888888", alpha=0.3), "noise band (IQR of the samples)"))
        _legend(ax, extra, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1, frameon=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def _fmt_num(v: Any, spec: str = ".3g") -> str:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def _tol_short(tol: Any) -> str:
    """``atol a, rtol r`` from an ``atol a + rtol r (source)`` tolerance; otherwise the bound's
    text without its source (statistical bounds such as ``5 s.e. 0.006``)."""
    text = "" if _missing(tol) else str(tol)
    m = re.search(r"atol (\S+) \+ rtol (\S+)", text)
    if m:
        return f"atol {m[1]}, rtol {m[2]}"
    text = text.split(" (")[0].strip()
    return text if len(text) <= 40 else text[:39] + "…"


def _cell_label(status: str, error: Any, tolerance: Any) -> str:
    s = SHORT.get(status, str(status))
    if not _missing(error):
        try:
            tol = _tol_short(tolerance)
            s += f" · {float(error):.2g}" + (f" ({tol})" if tol else "")
        except (TypeError, ValueError):
            pass
    return s


@dataclass
class PropertyView:
    """The property rows shown for one machine: for each suite, the rows of our reference
    implementation from the newest record of that suite there (full records first)."""

    machine: str
    mode: str                   # "full", or "quick" when the machine has only quick records
    rows: Any                   # DataFrame; ``fid`` numbers the failing rows across the page
    index: int = 0
    collapsed: dict[str, tuple[int, Counter]] = field(default_factory=dict)  # device -> (cases, skip reasons)
    records: list[dict] = field(default_factory=list)  # the records used, newest first

    def anchor(self, suite: str) -> str:
        return f"suite-{_slug(suite)}" + (f"-{self.index + 1}" if self.index else "")

    def suites(self) -> list[str]:
        """Suites with failures first (most first), then by name."""
        bad = self.rows[self.rows["status"].isin(BAD)].groupby("suite").size()
        return sorted(self.rows["suite"].unique(), key=lambda s: (-int(bad.get(s, 0)), str(s)))


def _property_frame(chosen: list[tuple[dict, set[str]]]) -> Any:
    """The reference rows of ``suites`` of each record, with the record's columns."""
    import pandas as pd

    rows = []
    for rec, suites in chosen:
        env = rec.get("environment") or {}
        meta = {"record": Path(rec.get("_file") or "").name, "created": rec.get("created"),
                "commit": (env.get("git_commit") or "")[:10], "cpu": env.get("cpu"), "gpu": env.get("gpu"),
                "torch": env.get("torch"), "machine": _machine(rec), "mode": record_mode(rec)}
        for p in rec.get("properties") or []:
            if p.get("suite") not in suites or subject_key(p.get("subject")) != "reference":
                continue
            o = p.get("outcome") if isinstance(p.get("outcome"), dict) else {}
            rows.append({**{k: v for k, v in p.items() if k != "outcome"}, **meta,
                         "error": o.get("error"), "tolerance": o.get("tolerance"),
                         "more": "; ".join(f"{k}: {o[k]}" for k in ("observed", "expected", "detail") if o.get(k))
                         if p.get("status") in BAD else ""})
    df = pd.DataFrame(rows)
    for col in ("check", "line", "error", "tolerance", "subject"):
        if len(df) and col not in df:
            df[col] = None
    return df


def scan_properties(rec: dict) -> tuple[set[str], set[str]]:
    """(suites with rows of the reference, suites with rows of a third-party subject) of a
    record, read from its rows as stored, without making compact rows whole: a compact row
    names its suite where it changes, and the subject on the first row of each property."""
    compact = "properties" in (rec.get("compact") or {})
    subjects: dict[str, set[str]] = {}
    suite = None
    seen: set[str] = set()
    for r in rec.get("properties") or []:
        if r.__class__ is not dict:
            continue
        if compact and "suite" not in r and "subject" not in r:
            continue  # the suite and subject of the row before
        suite = r.get("suite", suite if compact else None)
        if not isinstance(suite, str):
            continue
        seen = subjects.setdefault(suite, set())
        if "subject" in r or not compact:
            seen.add(subject_key(r.get("subject")))
    ref = {s for s, seen in subjects.items() if not seen or "reference" in seen}
    return ref, {s for s, seen in subjects.items() if seen - {"reference"}}


def property_views(recs: list[dict]) -> tuple[list[PropertyView], Any, dict[int, dict]]:
    """Per machine, each suite's reference rows from its newest full record there (from the
    newest quick one when the machine has no full record of any suite); failing rows numbered
    (``fid``) across the page. Also the frame of every row shown, and the records whose rows
    had to be read for it, made whole (:func:`harness.records.complete_record`), by ``id``."""
    import pandas as pd

    from harness.records import complete_record

    hints = {id(r): scan_properties(r)[0] for r in recs}
    by_machine: dict[str, list[dict]] = {}
    for r in recs:
        if hints[id(r)]:
            by_machine.setdefault(_machine(r), []).append(r)
    views = []
    completed: dict[int, dict] = {}
    fid = 0
    for machine in sorted(by_machine, key=_machine_order):
        rs = by_machine[machine]
        pool = [r for r in rs if record_mode(r) == "full"] or rs
        universe = set().union(*(hints[id(r)] for r in pool))
        chosen: dict[str, dict] = {}
        for r in sorted(pool, key=lambda r: r["created"], reverse=True):
            if not hints[id(r)] - set(chosen):
                continue
            whole = completed.setdefault(id(r), complete_record(r))
            for s in dict.fromkeys(p.get("suite") for p in whole.get("properties") or []
                                   if subject_key(p.get("subject")) == "reference"):
                chosen.setdefault(s, whole)
            if set(chosen) >= universe:
                break
        used = list({id(r): r for r in chosen.values()}.values())
        frame = _property_frame([(r, {s for s, x in chosen.items() if x is r}) for r in used])
        if frame.empty:
            continue
        frame["check"] = frame["check"].fillna("")
        bad = frame["status"].isin(BAD).to_numpy()
        ids = []
        for flag in bad:
            ids.append(fid if flag else None)
            fid += int(flag)
        frame["fid"] = ids
        collapsed = {}
        for dev, dg in frame.groupby("device", sort=False):
            if (dg["status"] == "skipped").all():
                collapsed[dev] = (len(dg), Counter(str(x) for x in dg["line"].fillna("")))
        views.append(PropertyView(machine, "quick" if all(record_mode(r) == "quick" for r in used) else "full",
                                  frame, len(views), collapsed,
                                  sorted(used, key=lambda r: r["created"], reverse=True)))
    P = pd.concat([v.rows for v in views], ignore_index=True) if views else None
    return views, P, completed


def _skip_line(dev: str, n: int, reasons: Counter, where: str = "on this machine") -> str:
    """``CUDA: not available on this machine, 603 cases (reason)``: a device column whose
    every case was skipped, as one line."""
    name = DEVICE_NAMES.get(dev, dev)
    absent = all("not available" in k.lower() or "no cuda" in k.lower() for k in reasons)
    what = f"not available {where}" if absent else f"every case skipped {where}"
    why = "; ".join(_e(k) + (f" ({v})" if len(reasons) > 1 else "") for k, v in reasons.most_common(3))
    more = f"; and {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
    return (f"<div class='devskip'><b>{_e(name)}</b>: {what}, {n} cases "
            f"<span class='note'>({why}{more})</span></div>")


def _short_reason(dev: str, why: str) -> str:
    """A skip reason in a few words (the whole reason is on hover): ``CUDA: not available``."""
    name = DEVICE_NAMES.get(dev, dev)
    if "not available" in why.lower():
        return f"{name}: not available"
    return f"{name}: {_cut(why, 48)}"


def summary_table(view: PropertyView) -> str:
    """One row per suite: passed, failed, skipped (with the reason), not applicable; suites
    with failures first; each suite links to its matrix."""
    has_xfail = view.rows["status"].isin(["xfailed"]).any()
    head = ("<tr><th>suite</th><th>passed</th><th>failed</th>" + ("<th>xfail</th>" if has_xfail else "")
            + "<th>skipped (reason)</th><th>not applicable</th></tr>")
    body = []
    for suite in view.suites():
        g = view.rows[view.rows["suite"] == suite]
        st = Counter(g["status"])
        failed = sum(st.get(k, 0) for k in BAD)
        skipped = g[g["status"] == "skipped"]
        reasons = []
        for (dev, why), n in Counter(zip(skipped["device"], skipped["line"].fillna(""))).most_common():
            reasons.append(f"{n} <span class='note' title='{_e(why)}'>({_e(_short_reason(dev, why))})</span>")
        na = st.get("not_applicable", 0) + st.get("circular", 0)
        fail_cell = (f"<td class='n bad'><a href='#{_e(view.anchor(suite))}'>{failed}</a></td>" if failed
                     else "<td class='n'>0</td>")
        body.append(f"<tr class='{'fail' if failed else ''}'><td><a href='#{_e(view.anchor(suite))}'>{_e(suite)}</a></td>"
                    f"<td class='n'>{st.get('passed', 0)}</td>{fail_cell}"
                    + (f"<td class='n'>{st.get('xfailed', 0)}</td>" if has_xfail else "")
                    + f"<td>{'<br>'.join(reasons) if reasons else '0'}</td><td class='n'>{na}</td></tr>")
    return f"<table class='summary'>{head}{''.join(body)}</table>"


def suite_matrix(view: PropertyView, suite: str) -> str:
    """One suite's matrix (properties × device dtype) as a folded section, open when it has
    failures. Device columns skipped entirely (here or on the whole machine) are left out; a
    device skipped in this suite only gets its one line."""
    g = view.rows[view.rows["suite"] == suite]
    local = {}
    for dev, dg in g.groupby("device", sort=False):
        if dev not in view.collapsed and (dg["status"] == "skipped").all():
            local[dev] = (len(dg), Counter(str(x) for x in dg["line"].fillna("")))
    shown = g[~g["device"].isin(list(view.collapsed) + list(local))]
    cols = sorted(dict.fromkeys(zip(shown["device"], shown["dtype"])), key=lambda c: (c[0] != "cpu", str(c[0]), str(c[1])))
    props = list(dict.fromkeys(zip(g["property"], g["check"])))
    cells: dict[tuple, Any] = {}
    for r in shown.itertuples(index=False):
        cells.setdefault((r.property, r.check, r.device, r.dtype), r)
    st = Counter(g["status"])
    failed = sum(st.get(k, 0) for k in BAD)
    rows_html = []
    for prop, check in props:
        tds = []
        for dev, dtype in cols:
            r = cells.get((prop, check, dev, dtype))
            if r is None:
                tds.append("<td></td>")
                continue
            label = _cell_label(r.status, r.error, r.tolerance)
            colour = STATUS_COLOURS.get(r.status, "#fff")
            line = "" if _missing(r.line) else str(r.line)
            if r.status in BAD and not _missing(r.fid):
                tds.append(f"<td class='bad' style='background:{colour}' title='{_e(line)}'>"
                           f"<a href='#fail-{int(r.fid)}'>{_e(label)}</a>"
                           f"<span class='why'>{_e(_cut(line, REASON_CHARS))}</span></td>")
            else:
                tds.append(f"<td style='background:{colour}' title='{_e(line)}'>{_e(label)}</td>")
        name = _e(prop) + (f" <span class='note'>({_e(check)})</span>" if check and check != prop else "")
        rows_html.append(f"<tr><th>{name}</th>{''.join(tds)}</tr>")
    head = "<tr><th>property</th>" + "".join(f"<th>{_e(d)} {_e(t)}</th>" for d, t in cols) + "</tr>"
    counts = ", ".join(f"{n} {SHORT.get(k, k)}" for k, n in sorted(st.items(), key=lambda kv: (kv[0] not in BAD, kv[0])))
    body = "".join(_skip_line(dev, n, why, "for this suite") for dev, (n, why) in local.items())
    if cols:
        body += f"<div class='scroll'><table class='matrix'>{head}{''.join(rows_html)}</table></div>"
    return (f"<details class='suite{' hasfail' if failed else ''}' id='{_e(view.anchor(suite))}'{' open' if failed else ''}>"
            f"<summary>{_e(suite)} <span class='note'>· {_e(counts)}</span></summary>{body}</details>")


def failures_table(views: list[PropertyView]) -> str:
    """Every failing row of the page (``fid`` order), its whole reason, and a link back."""
    items = []
    for v in views:
        bad = v.rows[v.rows["status"].isin(BAD)]
        for r in bad.itertuples(index=False):
            more = f"<details class='more'><summary>more</summary>{_e(r.more)}</details>" if getattr(r, "more", "") else ""
            where = f" <span class='note'>({_e(v.machine)})</span>" if len(views) > 1 else ""
            items.append(f"<tr id='fail-{int(r.fid)}'><td><a href='#{_e(v.anchor(r.suite))}'>{_e(r.suite)}</a>{where}</td>"
                         f"<td>{_e(r.property)}</td><td>{_e(r.device)}</td><td>{_e(r.dtype)}</td>"
                         f"<td>{_e(SHORT.get(r.status, r.status))}</td><td class='line'>{_e(r.line)}{more}</td></tr>")
    if not items:
        return "<h3 id='failures'>Failures and errors</h3><p class='note'>None: no property failed.</p>"
    return ("<h3 id='failures'>Failures and errors</h3><table class='fails'><tr><th>suite</th><th>property</th>"
            "<th>device</th><th>dtype</th><th>status</th><th>reason</th></tr>" + "".join(items) + "</table>")


def property_matrix(p) -> tuple[str, str]:
    """(matrices HTML, failures HTML) from one machine's property rows (a frame like the
    ``rows`` of a :class:`PropertyView`)."""
    if p is None or p.empty:
        return "<p class='note'>No property results in the records.</p>", ""
    p = p.copy()
    if "fid" not in p:
        flags = p["status"].isin(BAD).to_numpy()
        p["fid"] = [int(flags[:i].sum()) if f else None for i, f in enumerate(flags)]
    for col, default in (("check", ""), ("line", None), ("error", None), ("tolerance", None), ("more", "")):
        if col not in p:
            p[col] = default
    p["check"] = p["check"].fillna("")
    collapsed = {dev: (len(dg), Counter(str(x) for x in dg["line"].fillna("")))
                 for dev, dg in p.groupby("device", sort=False) if (dg["status"] == "skipped").all()}
    view = PropertyView(str(p["machine"].iloc[0]) if "machine" in p else "", "full", p, 0, collapsed)
    head = "".join(_skip_line(dev, n, why) for dev, (n, why) in collapsed.items())
    return head + "".join(suite_matrix(view, s) for s in view.suites()), failures_table([view])


def _ratio_text(ratio: Any, lo: Any, hi: Any) -> Any:
    if _missing(ratio):
        return None
    if _missing(lo) or _missing(hi):
        return float(ratio)
    return f"{float(ratio):.3g} [{float(lo):.3g}, {float(hi):.3g}]"


def throughput_table(b) -> tuple[Any, str]:
    """(the per-row frame with a CUDA/CPU speedup and an ``unstable`` column, HTML) for one
    machine's rows of one mode. Unstable rows say so in their status; a fraction of peak that
    is not valid (``peak_valid=False``, or above 1 in an old record) is never shown as a number;
    ours/built-in carries its 95% interval when the record has one."""
    import pandas as pd

    keys = ["suite", "benchmark", "workload", "dtype", "batch"]
    b = b.copy()
    for col in ("builtin", "builtin_ratio", "fraction_of_peak", "peak_mem_bytes", "iqr_s", "flops_per_step",
                "samples_per_s", "median_s", "builtin_status", "spread", "peak_valid", "builtin_ratio_ci", "unstable"):
        if col not in b:
            b[col] = None
    b["unstable_"] = _unstable(b)
    valid = _peak_ok(b)
    counted = pd.to_numeric(b["flops_per_step"], errors="coerce").fillna(0) > 0  # no FLOPs counted: no fraction
    b["frac_ok"] = b["fraction_of_peak"].where(valid & counted)
    b["peak_bad"] = ~valid & (b["fraction_of_peak"].notna() | b["peak_valid"].map(lambda v: v is False))
    med = pd.to_numeric(b["median_s"], errors="coerce")
    b["spread_pct"] = [100 * float(s) if not _missing(s)
                       else (100 * float(i) / float(m) if not (_missing(i) or _missing(m) or not m) else None)
                       for s, i, m in zip(b["spread"], b["iqr_s"], med)]
    ci = list(b["builtin_ratio_ci"])
    b["ci_lo"] = [c[0] if isinstance(c, (list, tuple)) and len(c) == 2 else None for c in ci]
    b["ci_hi"] = [c[1] if isinstance(c, (list, tuple)) and len(c) == 2 else None for c in ci]
    for col in ("frac_ok", "spread_pct", "ci_lo", "ci_hi", "builtin_ratio", "samples_per_s", "median_s", "peak_mem_bytes"):
        b[col] = pd.to_numeric(b[col], errors="coerce")
    agg = b.groupby(keys + ["device"], as_index=False, dropna=False).agg(
        status=("status", "first"), unstable=("unstable_", "any"), median_s=("median_s", "median"),
        spread_pct=("spread_pct", "median"), samples_per_s=("samples_per_s", "median"),
        flops_per_step=("flops_per_step", "first"), frac_ok=("frac_ok", "median"), peak_bad=("peak_bad", "any"),
        builtin=("builtin", "first"), builtin_ratio=("builtin_ratio", "median"), ci_lo=("ci_lo", "min"),
        ci_hi=("ci_hi", "max"), peak_mem_bytes=("peak_mem_bytes", "max"))
    agg["status_shown"] = [f"{s} · unstable" if s == "ok" and u else s for s, u in zip(agg["status"], agg["unstable"])]
    agg["peak_shown"] = [("above peak: not valid" if bad else (100 * f if not _missing(f) else None))
                         for f, bad in zip(agg["frac_ok"], agg["peak_bad"])]
    agg["ratio_shown"] = [_ratio_text(r, lo, hi) for r, lo, hi in zip(agg["builtin_ratio"], agg["ci_lo"], agg["ci_hi"])]
    wide = agg.set_index(keys + ["device"])[["samples_per_s", "status_shown", "median_s", "spread_pct", "peak_shown",
                                              "ratio_shown", "peak_mem_bytes", "unstable"]].unstack("device")
    devices = sorted(agg["device"].unique(), key=lambda d: (d != "cpu", d))
    out = pd.DataFrame(index=wide.index)

    def col(name: str, d: str) -> Any:
        return wide[(name, d)] if (name, d) in wide else None

    for d in devices:
        out[f"{d} status"] = col("status_shown", d)
        out[f"{d} samples/s"] = col("samples_per_s", d)
        out[f"{d} median"] = col("median_s", d)
        out[f"{d} IQR %"] = col("spread_pct", d)
        out[f"{d} % of peak"] = col("peak_shown", d)
        out[f"{d} ours/built-in"] = col("ratio_shown", d)
        if d == "cuda":
            mem = col("peak_mem_bytes", d)
            out["cuda peak MiB"] = mem / 2**20 if mem is not None else None
    if "cpu" in devices and "cuda" in devices:
        out["speedup cuda/cpu"] = (pd.to_numeric(out["cuda samples/s"], errors="coerce")
                                   / pd.to_numeric(out["cpu samples/s"], errors="coerce"))
    flops = agg.groupby(keys, dropna=False)["flops_per_step"].first()
    out["FLOPs/step (lower bound)"] = flops.reindex(out.index)
    builtin = agg.groupby(keys, dropna=False)["builtin"].first()
    out["built-in"] = builtin.reindex(out.index)
    unstable = agg.groupby(keys, dropna=False)["unstable"].any().reindex(out.index).fillna(False)
    out = out.dropna(axis=1, how="all")
    fmts: dict[str, Any] = {}
    for c in out.columns:
        if c.endswith("status") or c == "built-in":
            continue
        if c.endswith("median"):
            fmts[c] = lambda v: _fmt_time(v)
        elif "samples/s" in c or "FLOPs" in c:
            fmts[c] = lambda v: _fmt_num(v, ".4g")
        else:
            fmts[c] = lambda v: _fmt_num(v, ".3g")

    def colour(column: Any) -> list[str]:
        if not str(column.name).endswith("status"):
            return [""] * len(column)
        return [BENCH_COLOURS.get(v, "background-color:#f8c9c4") if isinstance(v, str) else "" for v in column]

    sty = (out.style.format(fmts, na_rep="—", escape="html").format(na_rep="—", escape="html",
                                                                    subset=[c for c in out.columns if c not in fmts])
           .format_index(escape="html", axis=0).format_index(escape="html", axis=1)
           .apply(colour, axis=0))
    frame = out.reset_index()
    frame["unstable"] = list(unstable)
    if "speedup cuda/cpu" in frame:
        frame = frame.rename(columns={"speedup cuda/cpu": "speedup"})
    return frame, sty.to_html()


def _fmt_time(s: Any) -> str:
    """Seconds as ``38.2 us``, ``4.45 ms``, ``1.2 s`` (as :func:`harness.bench._fmt_s`, without
    importing torch); ``—`` when missing."""
    try:
        v = float(s)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(v):
        return "—"
    for unit, f in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if v >= f:
            return f"{v / f:.3g} {unit}"
    return f"{v * 1e9:.3g} ns"


def env_table(rec: dict) -> str:
    import pandas as pd

    env = dict(rec.get("environment", {}))
    env["record"] = Path(rec.get("_file", "")).name
    env["created"] = rec.get("created")
    env["runner"] = rec.get("runner")
    info = rec.get("bench_info") or {}
    env["mode"] = record_mode(rec) + ("" if "quick" in info else " (not recorded: taken as full)")
    for k in ("timer", "min_run_time", "threads", "peak_memory", "dtype_policy", "spread_threshold"):
        if k in info:
            env[f"bench {k}"] = info[k]
    for pk in info.get("matmul_peaks", []):
        if pk.get("flops_per_s"):
            env[f"matmul peak {pk['device']} {pk['dtype']}"] = (f"{pk['flops_per_s'] / 1e9:.1f} GFLOP/s "
                                                                 f"(n={pk.get('n')}, {pk.get('threads')} threads)")
        else:
            env[f"matmul peak {pk['device']} {pk['dtype']}"] = pk.get("status")
    df = pd.DataFrame({"value": [str(v) for v in env.values()]}, index=list(env.keys()))
    return df.style.format(escape="html").format_index(escape="html", axis=0).hide(axis="columns").to_html()


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------
@dataclass
class ReportData:
    """What the page is drawn from: the records, the rows shown and how they were chosen."""

    recs: list[dict]
    P: Any                      # every property row shown (all machines), or None
    B: Any                      # every benchmark row of every record (the history), or None
    asv_rows: list[dict]
    views: list[PropertyView]   # the property rows shown, per machine
    through: list[ThroughputGroup]  # the benchmark rows shown, per machine, subject and mode
    skipped: list[Any] = field(default_factory=list)  # harness.records.SkippedRecord: files not used, and why

    @property
    def p_latest(self) -> Any:
        return self.P

    @property
    def per_machine(self) -> dict[str, Any]:
        """The full (else quick-only) reference rows per machine, as the charts use them."""
        out: dict[str, Any] = {}
        for g in self.through:
            if g.subject == "reference" and g.machine not in out and (g.mode == "full" or g.only_quick):
                out[g.machine] = g.rows
        return out

    def used(self, frame: Any) -> list[dict]:
        """The records a frame's rows came from, newest first."""
        by_file = {Path(r.get("_file", "")).name: r for r in self.recs}
        names = [] if frame is None or frame.empty else list(dict.fromkeys(frame.sort_values("created", ascending=False)["record"]))
        return [by_file[n] for n in names if n in by_file]


def _bench_frame(recs: list[dict]) -> Any:
    """Every benchmark row of ``recs`` with its record's columns (machine, mode, ...)."""
    import pandas as pd

    from harness.records import BENCHMARK_FIELDS

    rows = []
    for rec in recs:
        bench = rec.get("benchmarks") or []
        if not bench:
            continue
        env = rec.get("environment") or {}
        meta = {"record": Path(rec.get("_file") or "").name, "created": rec.get("created"),
                "commit": (env.get("git_commit") or "")[:10], "cpu": env.get("cpu"), "gpu": env.get("gpu"),
                "torch": env.get("torch"), "machine": _machine(rec), "mode": record_mode(rec)}
        rows.extend({**b, **meta} for b in bench if isinstance(b, dict))
    if not rows:
        return None
    df = pd.DataFrame(rows)
    for col in BENCHMARK_FIELDS:
        if col not in df:
            df[col] = None
    return df


def gather(runs_dir: Path, records: list[dict] | None, extra_records: Iterable[Path], asv_dir: Path | None) -> ReportData:
    """Read the records (and asv's results) and pick the rows to show. Every record is
    validated (:func:`harness.records.validate_record`, which also restores compact rows): an
    unusable one is left out and listed in ``skipped`` with the reason, a usable one keeps its
    good rows and lists the dropped ones under ``_dropped``."""
    from harness.records import SkippedRecord, complete_record, load_record, load_records, validate_record

    skipped: list[SkippedRecord] = []
    lazy = ("benchmarks",)  # property rows are read for the records shown only (property_views)
    if records is None:
        recs = load_records(Path(runs_dir), skipped, rows=lazy)
    else:
        recs = []
        for i, raw in enumerate(records):
            name = raw.get("_file") if isinstance(raw, dict) else None
            rec, problems = validate_record(raw, rows=lazy)
            if rec is None:
                skipped.append(SkippedRecord(str(name or f"record #{i + 1} (given in memory)"), problems[0]))
                continue
            before = raw.get("_dropped")
            problems = [str(x) for x in before] + problems if isinstance(before, list) else problems
            rec["_file"] = str(name or f"record #{i + 1} (given in memory)")
            if problems:
                rec["_dropped"] = problems
            recs.append(rec)
    have = {Path(r.get("_file") or "").resolve() for r in recs} | {Path(s.file).resolve() for s in skipped}
    for f in map(Path, extra_records):
        if f.resolve() not in have:
            rec = load_record(f, skipped, rows=lazy)
            if rec is not None:
                recs.append(rec)
            have.add(f.resolve())
    recs = sorted(recs, key=lambda r: r["created"])
    views, P, completed = property_views(recs)
    B = _bench_frame(recs)
    groups = throughput_groups(B)
    shown = {n for g in groups for n in g.rows["record"].unique()}
    # every record the page shows is read whole, so that its dropped rows are listed
    recs = [completed.get(id(r)) or (complete_record(r) if _rec_name(r) in shown else r) for r in recs]
    return ReportData(recs, P, B, load_asv(Path(asv_dir)) if asv_dir else [], views, groups, skipped)


def skipped_note(d: ReportData, limit: int = 10) -> str:
    """The "Skipped records" box: every record file left out and why, and every record used
    with some rows (or entries) dropped, with the first ``limit`` reasons. Empty when none."""
    if not d.skipped and not any(r.get("_dropped") for r in d.recs):
        return ""
    out = ["<div class='skipped' id='skipped'>"]
    if d.skipped:
        out.append(f"<h3>Skipped records ({len(d.skipped)})</h3><p class='note'>Not used for this page: "
                   "each file and why. Fix or remove them; the rest of the page is drawn without them.</p><ul>")
        out += [f"<li><code>{_e(s.file)}</code>: {_e(s.reason)}</li>" for s in d.skipped]
        out.append("</ul>")
    dropped = [(r, r["_dropped"]) for r in d.recs if r.get("_dropped")]
    if dropped:
        out.append("<h3>Dropped rows</h3><p class='note'>Records used, less the rows or entries that do not "
                   "match the record schema:</p><ul>")
        for r, why in dropped:
            more = f"; and {len(why) - limit} more" if len(why) > limit else ""
            out.append(f"<li><code>{_e(r.get('_file') or 'record given in memory')}</code>: {len(why)} dropped: "
                       + "; ".join(_e(w) for w in why[:limit]) + _e(more) + "</li>")
        out.append("</ul>")
    out.append("</div>")
    return "".join(out)


def _rec_name(r: dict) -> str:
    return Path(r.get("_file", "")).name


def _rec_ref(r: dict) -> str:
    env = r.get("environment", {}) or {}
    return (f"<code>{_e(_rec_name(r))}</code> (commit {_e((env.get('git_commit') or '?')[:10])}"
            f"{' + local changes' if env.get('git_dirty') else ''}, {_e(r.get('created'))})")


def records_note(d: ReportData) -> str:
    """Which records the page shows, and what it leaves out."""
    head = []
    used: set[str] = set()
    for v in d.views:
        per = v.rows.groupby("record", sort=False)["suite"].nunique()
        total = v.rows["suite"].nunique()
        parts = []
        for r in v.records:
            n = int(per.get(_rec_name(r), 0))
            parts.append(_rec_ref(r) + ("" if n == total else f" for {n} of {total} suites"))
            used.add(_rec_name(r))
        head.append(f"Properties on <b>{_e(v.machine)}</b> ({_e(v.mode)} runs): " + ", ".join(parts) + ".")
    for g in d.through:
        rs = d.used(g.rows)
        used.update(_rec_name(r) for r in rs)
        head.append(f"Throughput on <b>{_e(g.machine)}</b>"
                    + ("" if g.subject == "reference" else f" for {_e(g.subject)}")
                    + f" ({_e(g.mode)} runs): " + ", ".join(
                        f"<code>{_e(_rec_name(r))}</code> (torch {_e((r.get('environment') or {}).get('torch'))})"
                        for r in rs) + ".")
    rest = [r for r in d.recs if _rec_name(r) not in used]
    if rest:
        quick = sum(record_mode(r) == "quick" for r in rest)
        head.append(f"Not shown: {len(rest)} other record(s), older than those above"
                    + (f" ({quick} of them quick runs)" if quick else "")
                    + "; they appear in the history chart only, each beside records of its own machine, mode and subject.")
    third = sum(1 for r in d.recs if scan_properties(r)[1])
    if third:
        head.append(f"{third} record(s) with property rows of third-party subjects (<code>--impl</code>): never "
                    "merged into the reference's matrix (see the conformance matrix).")
    if not d.recs:
        head.append("No records found: run <code>harness run</code> or <code>harness bench</code> first.")
    return "<p class='note'>" + "<br>".join(head) + "</p>"


def summary_section(d: ReportData) -> list[str]:
    """The cards, the records used, and the per-suite summary of each machine."""
    import pandas as pd

    cards: list[tuple[str, Any, str, str]] = []
    if d.P is not None:
        st = Counter(d.P["status"])
        bad = sum(st.get(k, 0) for k in BAD)
        cards += [("properties passed", st.get("passed", 0) + st.get("xfailed", 0), "ok", ""),
                  ("failed / errors", bad, "bad" if bad else "ok", "#failures" if bad else ""),
                  ("skipped", st.get("skipped", 0), "", ""),
                  ("not applicable", st.get("not_applicable", 0) + st.get("circular", 0), "", ""),
                  ("suites", d.P["suite"].nunique(), "", "#summary")]
    shown = [g.rows for g in d.through if g.mode == "full" or g.only_quick]
    if shown:
        allb = pd.concat(shown)
        st = Counter(allb["status"])
        unstable = int(_unstable(allb[allb["status"] == "ok"]).sum())
        cards += [("benchmark rows ok", st.get("ok", 0), "ok", "#throughput"),
                  ("unstable rows", unstable, "bad" if unstable else "ok", "#throughput"),
                  ("OOM / unsupported / error", sum(v for k, v in st.items() if k not in ("ok", "skipped")),
                   "bad" if any(k not in ("ok", "skipped") for k in st) else "ok", ""),
                  ("devices", ", ".join(sorted(allb.loc[allb["status"] != "skipped", "device"].dropna().unique())), "", "")]
    cards.append(("records", len(d.recs), "", ""))
    if d.skipped:
        cards.append(("skipped records", len(d.skipped), "bad", "#skipped"))
    if d.asv_rows:
        cards.append(("asv results", len(d.asv_rows), "", ""))
    parts = ['<div class="cards">' + "".join(
        (f'<a class="card" href="{link}"><b class="{c}">{_e(v)}</b>{_e(k)}</a>' if link else
         f'<div class="card"><b class="{c}">{_e(v)}</b>{_e(k)}</div>') for k, v, c, link in cards) + "</div>"]
    note = skipped_note(d)
    if note:
        parts.append(note)
    parts.append(records_note(d))
    if d.views:
        parts.append("<h2 id='summary'>Summary per suite</h2>")
        for v in d.views:
            if len(d.views) > 1:
                parts.append(f"<h3>{_e(v.machine)}</h3>")
            parts += [_skip_line(dev, n, why) for dev, (n, why) in v.collapsed.items()]
            parts.append(summary_table(v))
    return parts


def properties_section(d: ReportData) -> list[str]:
    parts = ["<h2 id='properties'>Property matrix</h2>",
             "<p class='note'>Each cell: outcome · measured error (the tolerance it was held to); hover a cell for "
             "its line. A failing cell shows its reason and links to its entry under "
             "<a href='#failures'>Failures and errors</a>. Suites with failures are open, the others folded. "
             "A device whose every case was skipped here is one line, not a column.</p>"]
    if not d.views:
        return parts + ["<p class='note'>No property results in the records.</p>"]
    for v in d.views:
        if len(d.views) > 1:
            parts.append(f"<h3>{_e(v.machine)}</h3>")
        parts += [_skip_line(dev, n, why) for dev, (n, why) in v.collapsed.items()]
        parts += [suite_matrix(v, s) for s in v.suites()]
    parts.append(failures_table(d.views))
    return parts


def throughput_section(d: ReportData) -> tuple[list[str], list[Any]]:
    """The tables per machine (full runs; quick runs in their own, labelled table), and the
    frames of the first machine's full table (for the speedup chart)."""
    parts = ["<h2 id='throughput'>Throughput</h2>",
             "<p class='note'>Median seconds per step (torch.utils.benchmark, thread count recorded) and "
             "samples/s; IQR as % of the median (the row's spread); FLOPs from torch's FlopCounterMode count matmul, "
             "convolution and attention only (<em>model FLOPs, a lower bound</em>); % of peak against a "
             "large matmul measured on the same device in the same dtype in the same run (a row above the peak is "
             "<em>not valid</em>, never a number); ours/built-in &lt; 1 means ours is faster, with its 95% interval "
             "in brackets when measured interleaved; the CUDA/CPU speedup compares rows of one run. "
             "<span class='tag'>ok · unstable</span>: the row's spread stayed above the threshold after "
             "re-measurement. Rows with status <em>oom</em> or <em>unsupported dtype</em> are kept as such; rows "
             "that cannot run here are summarised with their reason. Full and quick runs are never mixed: "
             "a quick run (short timing, smallest batch) has its own table.</p>"]
    speed_frames: list[Any] = []
    first = None
    for g in d.through:
        b = g.rows
        skipped = b[b["status"] == "skipped"]
        b = b[b["status"] != "skipped"]
        inner = []
        if b.empty:
            inner.append("<p class='note'>No row measured here.</p>")
        else:
            frame, tbl = throughput_table(b)
            if first is None and (g.mode == "full" or g.only_quick):
                first = g
                speed_frames.append(frame)
            inner.append(f"<div class='scroll'>{tbl}</div>")
            bad = b[b["status"] != "ok"]
            if not bad.empty:
                inner.append("<p class='note'>Not measured: " + "; ".join(
                    f"{_e(x.suite)}/{_e(x.benchmark)} {_e(x.device)} {_e(x.dtype)} b{_e(x.batch)}: <b>{_e(x.status)}</b>"
                    for x in bad.itertuples()) + "</p>")
        if not skipped.empty:
            reasons = skipped.groupby(["device", "reason"], dropna=False).size()
            inner.append("<p class='note'>Skipped: " + "; ".join(
                f"{_e(dev)}: {_e(why)} ({n} rows)" for (dev, why), n in reasons.items()) + "</p>")
        src = ", ".join(f"<code>{_e(_rec_name(r))}</code>" for r in d.used(g.rows))
        if g.mode == "quick":
            parts.append(f"<details class='suite' id='quick-{_slug(g.machine)}'{' open' if g.only_quick else ''}>"
                         f"<summary>{_e(g.title)} <span class='note'>· short timing, smallest batch only: "
                         f"not comparable with a full table, never merged into one · from {src}</span></summary>"
                         + "".join(inner) + "</details>")
        else:
            parts.append(f"<h3>{_e(g.title)}</h3><p class='note'>Full runs, from {src}.</p>" + "".join(inner))
    if not d.through:
        parts.append("<p class='note'>No benchmark rows in the records (<code>harness bench</code>).</p>")
    return parts, speed_frames


def charts_section(d: ReportData, speed_frames: list[Any]) -> list[str]:
    import pandas as pd

    parts = ["<h2 id='charts'>Charts</h2>"]
    charts: list[tuple[str, str]] = []
    main = next((g for g in d.through if g.mode == "full" or g.only_quick), None)  # a GPU machine first, when there is one
    if main is not None:
        b0 = main.rows[main.rows["status"] != "skipped"]
        where = f" — {main.machine}" + (" (quick run)" if main.mode == "quick" else "")
        drawn = b0.loc[b0["status"] == "ok", "device"].dropna().unique()
        c = chart_samples_vs_batch(b0)
        if c:
            charts.append((f"Samples/s vs batch size, per suite ({device_key(drawn)}){where}", c))
        c = chart_speedup(pd.concat(speed_frames) if speed_frames else None)
        if c:
            charts.append((f"Speedup: CUDA over CPU (same run){where}", c))
        else:
            parts.append("<p class='note'>No CPU-vs-CUDA speedups: no record has rows on both devices "
                         "(run <code>harness bench</code> on a machine with a GPU).</p>")
        c = chart_builtin(b0)
        if c:
            charts.append((f"Ours vs torch built-in{where}", c))
        c = chart_peak(b0)
        if c:
            charts.append((f"Fraction of the measured matmul peak{where}", c))
    c = chart_history(d.B, d.asv_rows)
    if c:
        charts.append(("History across commits (records and asv): one panel per machine, mode and subject", c))
    parts += [f"<h3>{_e(title)}</h3>{img}" for title, img in charts]
    if not charts:
        parts.append("<p class='note'>No benchmark data to chart.</p>")
    return parts


def environment_section(d: ReportData) -> list[str]:
    import pandas as pd

    parts = ["<h2 id='environment'>Environment</h2>"]
    shown = {_rec_name(r): r for v in d.views for r in v.records}
    shown.update({_rec_name(r): r for g in d.through for r in d.used(g.rows)})
    for r in shown.values():
        parts.append(f"<h3>{_e(_rec_name(r))}</h3>{env_table(r)}")
    suites: dict[str, dict] = {}
    for r in d.recs:
        suites.update(r.get("suites") or {})
    if suites:
        sdf = pd.DataFrame([{"suite": k, "title": v.get("title", ""), "subject": v.get("subject"),
                             "file": v.get("path"), "sha256": str(v.get("sha256", ""))[:12]} for k, v in sorted(suites.items())])
        parts.append("<h3>Suites</h3>" + sdf.style.format(escape="html").hide(axis="index").to_html())
    return parts


def page(parts: list[str]) -> str:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>dlharness report</title><style>{CSS}</style></head><body>"
            f"<h1>dlharness report</h1><p class='sub'>generated {_e(now)} · "
            "<a href='#summary'>summary</a> · <a href='#properties'>properties</a> · "
            "<a href='#failures'>failures</a> · <a href='#conformance'>conformance</a> · "
            "<a href='#throughput'>throughput</a> · "
            "<a href='#charts'>charts</a> · <a href='#environment'>environment</a></p>"
            + "\n".join(parts) + "</body></html>\n")


def render_report(runs_dir: Path = RUNS_DIR, out: Path = REPORT_PATH, asv_dir: Path | None = ASV_DIR,
                  records: list[dict] | None = None, extra_records: Iterable[Path] = (),
                  conformance_dir: Path | None = CONFORMANCE_DIR) -> Path:
    """Write the report from the records under ``runs_dir`` (or ``records``), any
    ``extra_records`` files (e.g. a ``harness run --out`` elsewhere) and asv's results under
    ``asv_dir`` (if any); return its path."""
    from harness.records import atomic_write_text

    d = gather(runs_dir, records, extra_records, asv_dir)
    through, speed_frames = throughput_section(d)
    parts = (summary_section(d) + properties_section(d) + conformance_section(conformance_dir) + through
             + charts_section(d, speed_frames) + environment_section(d))
    return atomic_write_text(Path(out), page(parts))
