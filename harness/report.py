"""Run records (and asv results) -> ONE self-contained HTML file, ``results/report.html``.

No CDN, no JavaScript: tables are pandas Stylers rendered to HTML with every suite-provided
string escaped (``escape="html"``), charts are matplotlib PNGs embedded as base64 data URIs.
Strings from records are text, never markup: HTML-escaped in the page, and drawn literally in
charts (``$`` escaped so that matplotlib never parses mathtext, TeX off: see :func:`_lit`).

A record that cannot be used (unreadable, not JSON, not a record, a field of the wrong type)
never stops the page: it is left out and named, with the reason, in a "Skipped records" box
near the top; a record with some malformed rows is used without them, and the box lists them
(:func:`harness.records.validate_record`).

Sections: summary; the property matrix (suite × property × device × dtype: pass/fail/skip with
the error and the tolerance it was held to) with the failures spelled out; throughput per
machine (CPU vs CUDA samples/s and the speedup measured in the same run, ours vs torch's
built-in, fraction of the measured matmul peak, OOM and unsupported-dtype rows as such);
charts (samples/s vs batch per device, speedups, fraction of peak, history across commits from
the records and from asv); the environment of each record used.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from harness.records import RUNS_DIR

REPORT_PATH = Path("results") / "report.html"
ASV_DIR = Path("results") / "asv"
STATUS_COLOURS = {"passed": "#d7f5dd", "failed": "#f8c9c4", "error": "#f3a59c", "skipped": "#ececec",
                  "xfailed": "#fbe8b5", "xpassed": "#f8c9c4"}
BENCH_COLOURS = {"ok": "", "oom": "background-color:#fbe8b5", "unsupported dtype": "background-color:#ececec"}
SHORT = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "xfailed": "xfail",
         "xpassed": "XPASS"}

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
.card{border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:150px;background:#fafafa}
.card b{display:block;font-size:1.6em}.ok{color:#1a7f37}.bad{color:#c62828}
img.chart{max-width:100%;border:1px solid #eee;margin:6px 0 18px}
.note{color:#555;font-size:0.92em}.scroll{overflow-x:auto}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px}
.skipped{border-left:4px solid #c62828;background:#fff6f5;padding:2px 14px;margin:10px 0}
.skipped h3{margin-top:0.6em}.skipped li{font-size:0.92em}
"""


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


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
    env = rec_or_row.get("environment", {}) if isinstance(rec_or_row, dict) and "environment" in rec_or_row else rec_or_row
    cpu, gpu = env.get("cpu") or "unknown CPU", env.get("gpu")
    return f"{cpu} + {gpu}" if isinstance(gpu, str) and gpu else f"{cpu} (no GPU)"


def latest_benchmarks(B) -> dict[str, Any]:
    """Per machine (CPU + GPU name), the rows of each suite benchmark from the newest record that
    measured it there: CPU and CUDA rows of one benchmark always come from one run."""
    out: dict[str, Any] = {}
    if B is None or B.empty:
        return out
    B = B.copy()
    B["machine"] = [_machine({"cpu": c, "gpu": g}) for c, g in zip(B["cpu"], B["gpu"])]
    for machine, g in B.groupby("machine", sort=False):
        newest = g.groupby(["suite", "benchmark"])["created"].transform("max")
        out[machine] = g[g["created"] == newest]
    return dict(sorted(out.items(), key=lambda kv: ("no GPU" in kv[0], kv[0])))


def latest_properties(P) -> Any:
    """Each suite's property rows *for our reference implementation* from the newest record
    that has them. A run against a third-party subject (``--impl``) is never merged into the
    reference's matrix: such runs belong to the conformance section."""
    if P is None or P.empty:
        return None
    if "subject" in P:
        P = P[P["subject"].isna() | P["subject"].astype(str).str.endswith("(reference)")]
        if P.empty:
            return None
    newest = P.groupby("suite")["created"].transform("max")
    return P[P["created"] == newest]


CONFORMANCE_DIR = Path("results") / "conformance"
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
def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
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


def _legend(ax: Any, **kw: Any) -> None:
    """A legend of every line with its label as given: passing handles and labels explicitly
    keeps labels that start with ``_``, which ``ax.legend()`` would silently leave out."""
    handles = list(ax.get_lines())
    if handles:
        ax.legend(handles, [h.get_label() for h in handles], **kw)


def _chart(fn: Any) -> Any:
    """Draw (and save) a chart with TeX off whatever the matplotlibrc says, so that the strings
    from records, escaped with :func:`_lit`, are never parsed as markup."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        import matplotlib

        _plt()
        with matplotlib.rc_context({"text.usetex": False}):
            return fn(*args, **kwargs)
    return wrapper


@_chart
def chart_samples_vs_batch(b) -> str:
    """Small multiples, one panel per suite: samples/s against batch size for each benchmark,
    device (CPU dashed, CUDA solid) and dtype, so CPU and GPU sit side by side."""
    import math

    plt = _plt()
    ok = b[b["status"] == "ok"]
    suites = sorted(ok["suite"].unique())
    if not suites:
        return ""
    ncol = min(4, len(suites))
    nrow = math.ceil(len(suites) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.3 * ncol, 2.9 * nrow), squeeze=False)
    for ax, suite in zip(axes.flat, suites):
        d = ok[ok["suite"] == suite]
        for (bench, dev, dtype), g in d.groupby(["benchmark", "device", "dtype"], sort=True):
            g = g.groupby("batch", as_index=False)["samples_per_s"].median().sort_values("batch")
            ax.plot(g["batch"], g["samples_per_s"], marker="o", ms=3, ls="-" if dev == "cuda" else "--",
                    label=_lit(f"{bench} {dev} {dtype}"))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(_lit(suite), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
        _legend(ax, fontsize=5.5, loc="best")
    for ax in axes.flat[len(suites):]:
        ax.axis("off")
    fig.supxlabel("batch size")
    fig.supylabel("samples / s")
    return _png(fig)


@_chart
def _barh(labels: list[str], values: list[float], title: str, xlabel: str, ref: float | None = None,
          log: bool = False, lower_is_better: bool = False) -> str:
    """Horizontal bars; with ``ref``, bars on the bad side of it are red. ``labels`` come from
    records: they are drawn literally (:func:`_lit`); ``title`` and ``xlabel`` are ours."""
    plt = _plt()
    if not labels:
        return ""
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(labels) + 1.4))
    colours = ["#1f77b4" if ref is None or (v <= ref if lower_is_better else v >= ref) else "#d62728" for v in values]
    ax.barh(range(len(labels)), values, color=colours)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([_lit(x) for x in labels], fontsize=7)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    if ref is not None:
        ax.axvline(ref, color="k", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def chart_speedup(t) -> str:
    if t is None or "speedup" not in t or t["speedup"].dropna().empty:
        return ""
    s = t.dropna(subset=["speedup"])
    labels = [f"{r.suite}/{r.benchmark} {r.dtype} b{r.batch}" for r in s.itertuples()]
    return _barh(labels, list(s["speedup"]), "CUDA over CPU (same run)", "speedup (×)", ref=1.0, log=True)


def chart_builtin(b) -> str:
    s = b[(b["status"] == "ok") & b["builtin_ratio"].notna()] if "builtin_ratio" in b else b.iloc[0:0]
    if s.empty:
        return ""
    s = s.groupby(["suite", "benchmark", "builtin", "device", "dtype", "batch"], as_index=False)["builtin_ratio"].median()
    labels = [f"{r.suite}/{r.benchmark} {r.device} {r.dtype} b{r.batch} vs {r.builtin}" for r in s.itertuples()]
    return _barh(labels, list(s["builtin_ratio"]), "ours / torch built-in (median time; < 1 = ours faster)",
                 "time ratio", ref=1.0, log=True, lower_is_better=True)


def chart_peak(b) -> str:
    s = b[(b["status"] == "ok") & b["fraction_of_peak"].notna()] if "fraction_of_peak" in b else b.iloc[0:0]
    if s.empty:
        return ""
    s = s.groupby(["suite", "benchmark", "device", "dtype", "batch"], as_index=False)["fraction_of_peak"].median()
    labels = [f"{r.suite}/{r.benchmark} {r.device} {r.dtype} b{r.batch}" for r in s.itertuples()]
    return _barh(labels, [100 * v for v in s["fraction_of_peak"]],
                 "fraction of the measured matmul peak (model FLOPs, a lower bound)", "% of peak")


def _history_lines(ax: Any, frame: Any, *, at: str, when: str, value: str, top: int = 10) -> Any:
    """One line per ``series`` (the ``top`` seen at the most points ``at``), points ordered by
    ``when``; returns the ordered points for the caller's tick labels."""
    names = frame.groupby("series")[at].nunique().sort_values(ascending=False).index[:top]
    order = frame.drop_duplicates(at).sort_values(when)
    xs = {k: i for i, k in enumerate(order[at])}
    for name in sorted(names):
        g = frame[frame["series"] == name].groupby(at, as_index=False)[value].median()
        g["x"] = g[at].map(xs)
        g = g.sort_values("x")
        ax.plot(g["x"], g[value], marker="o", label=_lit(name))
    ax.set_xticks(range(len(order)))
    return order


@_chart
def chart_history(bench_all, asv_rows: list[dict]) -> str:
    plt = _plt()
    panels = []
    if bench_all is not None and not bench_all.empty and "commit" in bench_all:
        ok = bench_all[bench_all["status"] == "ok"].copy()
        if not ok.empty and ok["record"].nunique() > 1:
            panels.append("records")
    if asv_rows:
        panels.append("asv")
    if not panels:
        return ""
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4.2), squeeze=False)
    for ax, what in zip(axes[0], panels):
        if what == "records":
            ok["series"] = ok["suite"] + "/" + ok["benchmark"] + " " + ok["device"] + " " + ok["dtype"] + " b" + ok["batch"].astype(str)
            order = _history_lines(ax, ok, at="record", when="created", value="median_s")
            ax.set_xticklabels([_lit(f"{c or '?'}\n{str(t)[5:16]}") for c, t in zip(order["commit"], order["created"])],
                               fontsize=6.5, rotation=30, ha="right")
            ax.set_title("seconds per step across records (harness bench)")
        else:
            import pandas as pd

            a = pd.DataFrame(asv_rows)
            a["series"] = a["benchmark"].str.replace("suites.", "", regex=False).str.replace(".time_step", "", regex=False) + " [" + a["params"] + "]"
            order = _history_lines(ax, a, at="commit", when="date", value="value")
            ax.set_xticklabels([_lit(str(c)[:8]) for c in order["commit"]], fontsize=7, rotation=30, ha="right")
            ax.set_title("seconds per step across commits (asv)")
        ax.set_yscale("log")
        ax.set_ylabel("seconds per step")
        ax.grid(True, which="both", alpha=0.3)
        _legend(ax, fontsize=6, loc="best")
    return _png(fig)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def _fmt_num(v: Any, spec: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def _tol_short(tol: Any) -> str:
    """``atol a, rtol r`` from an ``atol a + rtol r (source)`` tolerance; otherwise the bound's
    text without its source (statistical bounds such as ``5 s.e. 0.006``)."""
    text = str(tol or "")
    m = re.search(r"atol (\S+) \+ rtol (\S+)", text)
    if m:
        return f"atol {m[1]}, rtol {m[2]}"
    text = text.split(" (")[0].strip()
    return text if len(text) <= 40 else text[:39] + "…"


def property_matrix(p) -> tuple[str, str]:
    """(matrix HTML, failures HTML) from one record's property rows."""
    if p is None or p.empty:
        return "<p class='note'>No property results in the records.</p>", ""

    def cell(r: Any) -> str:
        s = SHORT.get(r["status"], str(r["status"]))
        err = r.get("error")
        if err is not None and not (isinstance(err, float) and math.isnan(err)):
            tol = _tol_short(r.get("tolerance"))
            s += f" · {float(err):.2g}" + (f" ({tol})" if tol else "")
        return s

    p = p.copy()
    p["cell"] = p.apply(cell, axis=1)
    p["col"] = p["device"].astype(str) + " " + p["dtype"].astype(str)
    p["check"] = p["check"].fillna("")
    mat = p.pivot_table(index=["suite", "property", "check"], columns="col", values="cell", aggfunc="first")
    stat = p.pivot_table(index=["suite", "property", "check"], columns="col", values="status", aggfunc="first")
    cols = sorted(mat.columns, key=lambda c: (c.split()[0] != "cpu", c))
    mat, stat = mat[cols], stat[cols]
    mat.columns.name = stat.columns.name = None

    def colour(_: Any) -> Any:
        return stat.apply(lambda col: col.map(lambda s: f"background-color:{STATUS_COLOURS.get(s, '#fff')}"
                                              if isinstance(s, str) else ""))

    sty = (mat.style.format(na_rep="", escape="html").format_index(escape="html", axis=0)
           .format_index(escape="html", axis=1).apply(colour, axis=None)
           .set_table_attributes('class="matrix"'))
    bad = p[p["status"].isin(["failed", "error", "xpassed"])]
    fails = ""
    if not bad.empty:
        t = bad[["suite", "property", "device", "dtype", "status", "line"]].reset_index(drop=True)
        fails = ("<h3>Failures and errors</h3>" + t.style.format(escape="html").hide(axis="index").to_html())
    return sty.to_html(), fails


def throughput_table(b) -> tuple[Any, str]:
    """(the per-row frame with a CUDA/CPU speedup column, HTML) for one record's rows."""
    import pandas as pd

    keys = ["suite", "benchmark", "workload", "dtype", "batch"]
    b = b.copy()
    for col in ("builtin", "builtin_ratio", "fraction_of_peak", "peak_mem_bytes", "iqr_s", "flops_per_step",
                "samples_per_s", "median_s", "builtin_status"):
        if col not in b:
            b[col] = None
    agg = b.groupby(keys + ["device"], as_index=False, dropna=False).agg(
        status=("status", "first"), median_s=("median_s", "median"), iqr_s=("iqr_s", "median"),
        samples_per_s=("samples_per_s", "median"), flops_per_step=("flops_per_step", "first"),
        fraction_of_peak=("fraction_of_peak", "median"), builtin=("builtin", "first"),
        builtin_ratio=("builtin_ratio", "median"), peak_mem_bytes=("peak_mem_bytes", "max"))
    wide = agg.set_index(keys + ["device"])[["samples_per_s", "status", "median_s", "iqr_s", "fraction_of_peak",
                                              "builtin_ratio", "peak_mem_bytes"]].unstack("device")
    devices = sorted(agg["device"].unique(), key=lambda d: (d != "cpu", d))
    out = pd.DataFrame(index=wide.index)
    for d in devices:
        out[f"{d} status"] = wide[("status", d)] if ("status", d) in wide else None
        out[f"{d} samples/s"] = wide[("samples_per_s", d)] if ("samples_per_s", d) in wide else None
        out[f"{d} median"] = wide[("median_s", d)] if ("median_s", d) in wide else None
        out[f"{d} IQR %"] = (100 * wide[("iqr_s", d)] / wide[("median_s", d)]) if ("iqr_s", d) in wide else None
        out[f"{d} % of peak"] = (100 * wide[("fraction_of_peak", d)]) if ("fraction_of_peak", d) in wide else None
        out[f"{d} ours/built-in"] = wide[("builtin_ratio", d)] if ("builtin_ratio", d) in wide else None
        if d == "cuda":
            out["cuda peak MiB"] = wide[("peak_mem_bytes", d)] / 2**20 if ("peak_mem_bytes", d) in wide else None
    if "cpu" in devices and "cuda" in devices:
        out["speedup cuda/cpu"] = out["cuda samples/s"] / out["cpu samples/s"]
    flops = agg.groupby(keys, dropna=False)["flops_per_step"].first()
    out["FLOPs/step (lower bound)"] = flops.reindex(out.index)
    builtin = agg.groupby(keys, dropna=False)["builtin"].first()
    out["built-in"] = builtin.reindex(out.index)
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

    def colour(col: Any) -> list[str]:
        if not str(col.name).endswith("status"):
            return [""] * len(col)
        return [BENCH_COLOURS.get(v, "background-color:#f8c9c4") if isinstance(v, str) else "" for v in col]

    sty = (out.style.format(fmts, na_rep="—", escape="html").format(na_rep="—", escape="html",
                                                                    subset=[c for c in out.columns if c not in fmts])
           .format_index(escape="html", axis=0).format_index(escape="html", axis=1)
           .apply(colour, axis=0))
    frame = out.reset_index()
    if "speedup cuda/cpu" in frame:
        frame = frame.rename(columns={"speedup cuda/cpu": "speedup"})
    return frame, sty.to_html()


def _fmt_time(s: Any) -> str:
    from harness.bench import _fmt_s

    try:
        return _fmt_s(float(s)) if s is not None and not (isinstance(s, float) and math.isnan(s)) else "—"
    except (TypeError, ValueError):
        return "—"


def env_table(rec: dict) -> str:
    import pandas as pd

    env = dict(rec.get("environment", {}))
    env["record"] = Path(rec.get("_file", "")).name
    env["created"] = rec.get("created")
    env["runner"] = rec.get("runner")
    info = rec.get("bench_info") or {}
    for k in ("timer", "min_run_time", "threads", "peak_memory", "dtype_policy"):
        if k in info:
            env[f"bench {k}"] = info[k]
    for pk in info.get("matmul_peaks", []):
        if pk.get("flops_per_s"):
            env[f"matmul peak {pk['device']} {pk['dtype']}"] = (f"{pk['flops_per_s'] / 1e9:.1f} GFLOP/s "
                                                                 f"(n={pk['n']}, {pk.get('threads')} threads)")
        else:
            env[f"matmul peak {pk['device']} {pk['dtype']}"] = pk.get("status")
    df = pd.DataFrame({"value": [str(v) for v in env.values()]}, index=list(env.keys()))
    return df.style.format(escape="html").format_index(escape="html", axis=0).hide(axis="columns").to_html()


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------
@dataclass
class ReportData:
    """What the page is drawn from: the records, their frames and the latest rows of each kind."""

    recs: list[dict]
    P: Any
    B: Any
    asv_rows: list[dict]
    p_latest: Any
    per_machine: dict[str, Any]
    skipped: list[Any] = field(default_factory=list)  # harness.records.SkippedRecord: files not used, and why

    def used(self, frame: Any) -> list[dict]:
        """The records a frame's rows came from, newest first."""
        by_file = {Path(r.get("_file", "")).name: r for r in self.recs}
        names = [] if frame is None or frame.empty else list(dict.fromkeys(frame.sort_values("created", ascending=False)["record"]))
        return [by_file[n] for n in names if n in by_file]


def gather(runs_dir: Path, records: list[dict] | None, extra_records: Iterable[Path], asv_dir: Path | None) -> ReportData:
    """Read the records (and asv's results) and pick the latest rows to show. Every record is
    validated (:func:`harness.records.validate_record`): an unusable one is left out and listed
    in ``skipped`` with the reason, a usable one keeps its good rows and lists the dropped ones
    under ``_dropped``."""
    from harness.records import SkippedRecord, frames, load_record, load_records, validate_record

    skipped: list[SkippedRecord] = []
    if records is None:
        recs = load_records(Path(runs_dir), skipped)
    else:
        recs = []
        for i, raw in enumerate(records):
            name = raw.get("_file") if isinstance(raw, dict) else None
            rec, problems = validate_record(raw)
            if rec is None:
                skipped.append(SkippedRecord(str(name or f"record #{i + 1} (given in memory)"), problems[0]))
                continue
            before = raw.get("_dropped")
            problems = [str(x) for x in before] + problems if isinstance(before, list) else problems
            if name:
                rec["_file"] = str(name)
            if problems:
                rec["_dropped"] = problems
            recs.append(rec)
    have = {Path(r.get("_file") or "").resolve() for r in recs} | {Path(s.file).resolve() for s in skipped}
    for f in map(Path, extra_records):
        if f.resolve() not in have:
            rec = load_record(f, skipped)
            if rec is not None:
                recs.append(rec)
            have.add(f.resolve())
    recs = sorted(recs, key=lambda r: r["created"])
    P, B = frames(recs)
    return ReportData(recs, P, B, load_asv(Path(asv_dir)) if asv_dir else [], latest_properties(P), latest_benchmarks(B),
                      skipped)


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


def summary_section(d: ReportData) -> list[str]:
    """The cards and the line saying which records the page shows."""
    import pandas as pd

    cards = []
    if d.p_latest is not None:
        counts = d.p_latest["status"].value_counts().to_dict()
        good = counts.get("passed", 0) + counts.get("xfailed", 0)
        bad = counts.get("failed", 0) + counts.get("error", 0) + counts.get("xpassed", 0)
        cards += [("properties passed", good, "ok"), ("failed / errors", bad, "bad" if bad else "ok"),
                  ("skipped", counts.get("skipped", 0), ""), ("suites", d.p_latest["suite"].nunique(), "")]
    if d.per_machine:
        allb = pd.concat(d.per_machine.values())
        st = allb["status"].value_counts().to_dict()
        cards += [("benchmark rows ok", st.get("ok", 0), "ok"),
                  ("OOM / unsupported / error", sum(v for k, v in st.items() if k not in ("ok", "skipped")),
                   "bad" if any(k not in ("ok", "skipped") for k in st) else "ok"),
                  ("devices", ", ".join(sorted(allb.loc[allb["status"] != "skipped", "device"].dropna().unique())), "")]
    cards.append(("records", len(d.recs), ""))
    if d.skipped:
        cards.append(("skipped records", len(d.skipped), "bad"))
    if d.asv_rows:
        cards.append(("asv results", len(d.asv_rows), ""))
    parts = ['<div class="cards">' + "".join(
        f'<div class="card"><b class="{c}">{_e(v)}</b>{_e(k)}</div>' for k, v, c in cards) + "</div>"]
    note = skipped_note(d)
    if note:
        parts.append(note)
    head = []
    for r in d.used(d.p_latest):
        env = r.get("environment", {})
        head.append(f"Properties from <code>{_e(Path(r.get('_file', '')).name)}</code> "
                    f"(commit {_e((env.get('git_commit') or '?')[:10])}{' + local changes' if env.get('git_dirty') else ''}, "
                    f"{_e(r.get('created'))}).")
    for machine, b in d.per_machine.items():
        head.append(f"Throughput on {_e(machine)} from " + ", ".join(
            f"<code>{_e(Path(r.get('_file', '')).name)}</code> (torch {_e(r.get('environment', {}).get('torch'))})"
            for r in d.used(b)) + ".")
    if not d.recs:
        head.append("No records found: run <code>harness run</code> or <code>harness bench</code> first.")
    parts.append("<p class='note'>" + "<br>".join(head) + "</p>")
    return parts


def properties_section(d: ReportData) -> list[str]:
    parts = ["<h2 id='properties'>Property matrix</h2>",
             "<p class='note'>Each cell: outcome · measured error (the tolerance it was held to). "
             "Skips are cases that cannot run here (e.g. no CUDA), with the reason below.</p>"]
    matrix, fails = property_matrix(d.p_latest)
    parts.append(f"<div class='scroll'>{matrix}</div>{fails}")
    if d.p_latest is not None:
        sk = d.p_latest[d.p_latest["status"] == "skipped"]["line"].dropna().value_counts()
        if not sk.empty:
            parts.append("<p class='note'>Skip reasons: " + "; ".join(f"{_e(k)} ({v}×)" for k, v in sk.items()) + "</p>")
    return parts


def throughput_section(d: ReportData) -> tuple[list[str], list[Any]]:
    """The per-machine tables, and their frames (for the speedup chart)."""
    parts = ["<h2 id='throughput'>Throughput</h2>",
             "<p class='note'>Median seconds per step (torch.utils.benchmark, thread count recorded) and "
             "samples/s; IQR as % of the median; FLOPs from torch's FlopCounterMode count matmul, "
             "convolution and attention only (<em>model FLOPs, a lower bound</em>); % of peak against a "
             "large matmul measured on the same device in the same dtype in the same run; ours/built-in "
             "&lt; 1 means ours is faster; the CUDA/CPU speedup compares rows of one run. Rows with status "
             "<em>oom</em> or <em>unsupported dtype</em> are kept as such; rows that cannot run here are "
             "summarised with their reason.</p>"]
    speed_frames = []
    for machine, b in d.per_machine.items():
        parts.append(f"<h3>{_e(machine)}</h3>")
        skipped = b[b["status"] == "skipped"]
        b = b[b["status"] != "skipped"]
        frame, tbl = throughput_table(b)
        speed_frames.append(frame)
        parts.append(f"<div class='scroll'>{tbl}</div>")
        bad = b[b["status"] != "ok"]
        if not bad.empty:
            parts.append("<p class='note'>Not measured: " + "; ".join(
                f"{_e(x.suite)}/{_e(x.benchmark)} {_e(x.device)} {_e(x.dtype)} b{_e(x.batch)}: <b>{_e(x.status)}</b>"
                for x in bad.itertuples()) + "</p>")
        if not skipped.empty:
            reasons = skipped.groupby(["device", "reason"]).size()
            parts.append("<p class='note'>Skipped: " + "; ".join(
                f"{_e(dev)}: {_e(why)} ({n} rows)" for (dev, why), n in reasons.items()) + "</p>")
    if not d.per_machine:
        parts.append("<p class='note'>No benchmark rows in the records (<code>harness bench</code>).</p>")
    return parts, speed_frames


def charts_section(d: ReportData, speed_frames: list[Any]) -> list[str]:
    import pandas as pd

    parts = ["<h2 id='charts'>Charts</h2>"]
    charts: list[tuple[str, str]] = []
    if d.per_machine:
        b0 = next(iter(d.per_machine.values()))  # a GPU machine first, when there is one
        b0 = b0[b0["status"] != "skipped"]
        c = chart_samples_vs_batch(b0)
        if c:
            charts.append(("Samples/s vs batch size, per suite (CPU dashed, CUDA solid)", c))
        c = chart_speedup(pd.concat(speed_frames) if speed_frames else None)
        if c:
            charts.append(("Speedup: CUDA over CPU (same run)", c))
        else:
            parts.append("<p class='note'>No CPU-vs-CUDA speedups: no record has rows on both devices "
                         "(run <code>harness bench</code> on a machine with a GPU).</p>")
        c = chart_builtin(b0)
        if c:
            charts.append(("Ours vs torch built-in", c))
        c = chart_peak(b0)
        if c:
            charts.append(("Fraction of the measured matmul peak", c))
    c = chart_history(d.B, d.asv_rows)
    if c:
        charts.append(("History across commits (records and asv)", c))
    parts += [f"<h3>{_e(title)}</h3>{img}" for title, img in charts]
    if not charts:
        parts.append("<p class='note'>No benchmark data to chart.</p>")
    return parts


def environment_section(d: ReportData) -> list[str]:
    import pandas as pd

    parts = ["<h2 id='environment'>Environment</h2>"]
    shown = {Path(r.get("_file", "")).name: r for r in d.used(d.p_latest) + [x for b in d.per_machine.values() for x in d.used(b)]}
    for r in shown.values():
        parts.append(f"<h3>{_e(Path(r.get('_file', '')).name)}</h3>{env_table(r)}")
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
            "<a href='#properties'>properties</a> · <a href='#conformance'>conformance</a> · "
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
