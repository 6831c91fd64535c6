"""The HTML report, rendered from the fixed record set in tests/data/records (and the asv
results in tests/data/asv): content, escaping of suite-provided strings, self-containment,
and a look at it in headless Chromium.

The fixture records are synthetic (hosts ``fixture-host`` and ``fixture-gpu``): they exercise
every status (pass/fail/error/skip/xfail, ok/oom/unsupported dtype/error) and carry a malicious
suite title, benchmark id and GPU name.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.report import load_asv, render_report

DATA = Path(__file__).resolve().parent / "data"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    path = render_report(runs_dir=DATA / "records", out=out, asv_dir=DATA / "asv")
    return path, path.read_text(encoding="utf-8")


def test_sections_tables_and_charts(report):
    path, page = report
    for heading in ("Property matrix", "Throughput", "Charts", "Environment", "Failures and errors"):
        assert heading in page
    assert page.count('<img class="chart"') >= 3
    assert page.count("data:image/png;base64,") == page.count('<img class="chart"')
    for chart in ("Samples/s vs batch size", "Speedup: CUDA over CPU", "Ours vs torch built-in",
                  "Fraction of the measured matmul peak", "History across commits"):
        assert chart in page, chart
    # the property matrix: statuses with the error and the tolerance it was held to
    assert "pass · 2.2e-16 (atol 1e-10, rtol 1e-10)" in page
    assert "FAIL · 0.03" in page and "ERROR" in page and "xfail" in page and "skip" in page
    # throughput: both devices of the GPU fixture machine, with a speedup from the same record
    assert "cuda samples/s" in page and "speedup cuda/cpu" in page and "cpu samples/s" in page
    assert "model FLOPs, a lower bound" in page


def test_oom_and_unsupported_rows_are_shown_as_such(report):
    _, page = report
    assert re.search(r"<td[^>]*>\s*oom\s*</td>", page)
    assert re.search(r"<td[^>]*>\s*unsupported dtype\s*</td>", page)
    assert "<b>oom</b>" in page and "<b>unsupported dtype</b>" in page


def test_suite_strings_are_escaped(report):
    _, page = report
    assert "<script" not in page.lower()
    assert "<img src=x" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page or "&lt;script&gt;alert(" in page
    # the malicious title, benchmark id, failure line and GPU name all arrive escaped
    assert page.count("&lt;script&gt;") >= 4


def test_self_contained(report):
    _, page = report
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "<script" not in page


def test_asv_results_are_read():
    rows = load_asv(DATA / "asv")
    assert {r["commit"] for r in rows} == {"c" * 10, "d" * 10}
    assert {r["params"] for r in rows} == {"cpu, float32, 32", "cpu, float32, 256"}  # n/a (None) left out
    assert all(r["value"] > 0 for r in rows)


def test_renders_with_no_records(tmp_path):
    page = render_report(runs_dir=tmp_path / "none", out=tmp_path / "r.html", asv_dir=tmp_path / "noasv").read_text()
    assert "No records found" in page and "No property results" in page


def test_cli_report(tmp_path, capsys):
    from harness.cli import main

    out = tmp_path / "r.html"
    assert main(["report", "--runs", str(DATA / "records"), "--asv", str(DATA / "asv"), "--out", str(out)]) == 0
    assert out.exists() and str(out) in capsys.readouterr().out
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)


def test_fixture_records_load():
    from harness.records import frames, load_records

    recs = load_records(DATA / "records")
    assert len(recs) == 3
    P, B = frames(recs)
    assert set(B["status"]) >= {"ok", "oom", "unsupported dtype"}
    assert any(json.dumps(r).count("<script>") for r in recs)


def _chromium(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args],
            cwd=cwd, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
def test_report_in_headless_chromium(report, tmp_path):
    import numpy as np
    from matplotlib import image

    path, _ = report
    url = path.resolve().as_uri()
    shot = tmp_path / "out.png"
    r = _chromium([f"--screenshot={shot}", "--window-size=1200,800", url], cwd=tmp_path)
    assert shot.exists(), r.stderr[-2000:]
    px = image.imread(str(shot))[..., :3]
    assert px.shape[0] >= 700 and px.shape[1] >= 1100
    assert float(px.std()) > 0.05, "screenshot is blank"
    assert len(np.unique((px * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50, "screenshot has almost no content"
    # page errors: console messages (JS errors, blocked or failed resource loads) in Chromium's log
    bad = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln or "net::ERR_" in ln]
    assert not bad, bad
    dom = _chromium(["--dump-dom", url], cwd=tmp_path)
    assert "Property matrix" in dom.stdout and "dlharness report" in dom.stdout
    assert dom.stdout.count("data:image/png;base64,") >= 3
    assert "<script" not in dom.stdout.lower()


def test_extra_record_outside_the_runs_dir(tmp_path):
    """``harness run --out elsewhere.json`` still shows up in the report it renders."""
    gpu = DATA / "records" / "gpu-20260103T000000Z-bbbbbbb.json"
    page = render_report(runs_dir=tmp_path / "none", out=tmp_path / "r.html", asv_dir=None,
                         extra_records=[gpu]).read_text()
    assert "Fixture Xeon 16-core" in page and "speedup cuda/cpu" in page


# --------------------------------------------------------------------------------------------
# bad records never break the page; suite strings are text, never markup
# --------------------------------------------------------------------------------------------
def test_malformed_records_are_named_and_the_rest_is_shown(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(DATA / "records", runs)
    good = json.loads((runs / "local-20260102T000000Z-bbbbbbb.json").read_text())
    bad = {
        "broken.json": "{\"schema\": 1, \"created\": ",
        "not-an-object.json": "[]",
        "env-null.json": json.dumps({**good, "environment": None}),
        "created-number.json": json.dumps({**good, "created": 5}),
        "props-not-list.json": json.dumps({**good, "properties": {"a": 1}}),
        "<img src=x onerror=alert(1)>.json": json.dumps({**good, "schema": 7}),
    }
    for name, text in bad.items():
        (runs / name).write_text(text)
    # a newer record with some bad rows: its good rows are used, the bad ones listed
    rows = json.loads((runs / "gpu-20260103T000000Z-bbbbbbb.json").read_text())
    rows["created"] = "2026-01-04T00:00:00+00:00"
    rows["benchmarks"] = rows["benchmarks"] + [{**rows["benchmarks"][0], "batch": "32"},
                                               {**rows["benchmarks"][0], "median_s": "fast"}, "row"]
    rows["properties"] = [None] + rows["properties"]
    (runs / "gpu-20260104T000000Z-ccccccc.json").write_text(json.dumps(rows))
    (runs / "reserved-placeholder.json").write_text("")  # a run in progress: ignored, not listed
    page = render_report(runs_dir=runs, out=tmp_path / "r.html", asv_dir=DATA / "asv").read_text()
    # the good data is all there
    assert "pass · 2.2e-16 (atol 1e-10, rtol 1e-10)" in page and "speedup cuda/cpu" in page
    assert page.count('<img class="chart"') >= 3
    # the skipped files are named with their reasons, near the top
    assert "Skipped records (6)" in page and page.index("Skipped records") < page.index("Property matrix")
    for name, why in [("broken.json", "invalid JSON"), ("not-an-object.json", "not a JSON object but a list"),
                      ("env-null.json", "&#x27;environment&#x27; is null, expected an object"),
                      ("created-number.json", "&#x27;created&#x27; is an integer (5), expected a string"),
                      ("props-not-list.json", "&#x27;properties&#x27; is an object"),
                      ("&lt;img src=x onerror=alert(1)&gt;.json", "this harness reads schema 1")]:
        assert re.search(re.escape(name) + r"</code>: [^<]*" + re.escape(why), page), name
    assert "<img src=x" not in page
    assert "reserved-placeholder" not in page
    # the dropped rows of the record that was used
    assert "Dropped rows" in page and "gpu-20260104T000000Z-ccccccc.json</code>: 4 dropped" in page
    assert "benchmarks[" in page and "&#x27;batch&#x27; is a string" in page and "properties[0] dropped: not an object but null" in page
    assert "gpu-20260104T000000Z-ccccccc.json" in page.split("Environment")[-1]  # its good rows are shown


def test_malformed_in_memory_records_do_not_crash(tmp_path):
    recs = json.loads((DATA / "records" / "local-20260101T000000Z-aaaaaaa.json").read_text())
    page = render_report(runs_dir=tmp_path, out=tmp_path / "r.html", asv_dir=None,
                         records=[recs, "junk", {"schema": 1, "created": "x", "environment": []},
                                  {**recs, "benchmarks": [{"batch": []}]}, {**recs, "_file": "named.json", "kind": 1}]).read_text()
    assert "Skipped records (3)" in page and "record #2 (given in memory)" in page and "named.json" in page
    assert "pass · 2.2e-16" in page


ODD = ["$\\frac{a}{b}$", "$x$", "$\\notacommand{$", "_hidden", "<script>alert(1)</script>", "cost $5 & $6"]


def _odd_records() -> list[dict]:
    """Two records (for the history chart) whose suite, benchmark ids, builtin and commit are odd
    strings, with CPU and CUDA rows (speedup), builtin ratios and fractions of peak."""
    recs = []
    for n, created in enumerate(["2026-02-01T00:00:00+00:00", "2026-02-02T00:00:00+00:00"]):
        rows = []
        for i, bench in enumerate(ODD):
            for dev in ("cpu", "cuda"):
                for batch in (8, 64):
                    med = (1e-3 if dev == "cpu" else 1e-4) * (i + 1) * batch / 8
                    rows.append({"suite": "$x$ suite" if i % 2 else "<b>s</b>", "benchmark": bench, "workload": "forward",
                                 "device": dev, "dtype": "float32", "batch": batch, "status": "ok", "median_s": med,
                                 "iqr_s": med / 50, "samples_per_s": batch / med, "flops_per_step": 1000,
                                 "fraction_of_peak": 0.1 + 0.01 * i, "builtin": "$builtin$", "builtin_ratio": 1.1})
        props = [{"suite": "$x$ suite", "property": bench, "check": bench, "device": "cpu", "dtype": "float32",
                  "status": "failed", "line": bench, "outcome": {"error": 0.5, "tolerance": "$tol$"}} for bench in ODD]
        recs.append({"schema": 1, "created": created, "_file": f"odd-{n}.json",
                     "environment": {"git_commit": f"$c{n}$", "cpu": "$cpu$", "gpu": "<i>gpu</i>", "torch": "2"},
                     "suites": {"$x$ suite": {"title": "$\\alpha$ <script>x</script>"}},
                     "properties": props, "benchmarks": rows})
    return recs


def test_suite_strings_are_literal_in_charts_and_escaped_in_html(tmp_path, monkeypatch):
    import matplotlib
    from matplotlib.text import Text

    import harness.report as report

    shown: list[str] = []      # every string drawn as plain text
    math: list[str] = []       # every string drawn as mathtext (only matplotlib's own log ticks may be)
    original = report._png

    def capture(fig, **kw):
        fig.canvas.draw()  # tick labels are made at draw time
        for t in fig.findobj(Text):
            assert not t.get_usetex()
            s, is_math = t._preprocess_math(t.get_text())
            (math if is_math else shown).append(s)
        return original(fig, **kw)

    monkeypatch.setattr(report, "_png", capture)
    with matplotlib.rc_context({"text.usetex": True}):  # a matplotlibrc asking for TeX changes nothing
        page = render_report(runs_dir=tmp_path, out=tmp_path / "r.html", asv_dir=None, records=_odd_records()).read_text()
    assert page.count('<img class="chart"') == 5
    for s in ODD + ["$x$ suite", "$builtin$", "$c0$", "$c1$"]:
        assert any(s in x for x in shown), (s, [x for x in shown if "$" in x][:20])
    assert any(x.startswith("_hidden ") for x in shown)  # a legend entry starting with "_" is kept
    assert all("mathdefault" in m for m in math), math  # no record string was ever parsed as math
    # the page: literal text, HTML-escaped, no markup from records
    assert "$\\frac{a}{b}$" in page and "cost $5 &amp; $6" in page
    assert "<script" not in page.lower() and "<b>s</b>" not in page and "<i>gpu</i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;i&gt;gpu&lt;/i&gt;" in page


def test_conformance_matrix_section(tmp_path):
    """The newest conformance record becomes one matrix per suite: implementations by
    properties, a failing cell linked to its reason, circular and n/a cells named."""
    from harness.records import atomic_write_json, make_record
    from harness.report import render_report

    rows = [
        {"implementation": "reference", "suite": "rbm", "property": "p1", "device": "cpu", "dtype": "float64",
         "status": "passed", "line": "ok", "subject": "reference_impls.rbm:RBM (reference)"},
        {"implementation": "lib <X>", "suite": "rbm", "property": "p1", "device": "cpu", "dtype": "float64",
         "status": "failed", "line": "diagnosis: observed = 2 × expected everywhere", "subject": "lib (third-party)"},
        {"implementation": "lib <X>", "suite": "rbm", "property": "p2", "device": "cpu", "dtype": "float64",
         "status": "circular", "line": "circular (oracle is lib)", "subject": "lib (third-party)"},
        {"implementation": "lib <X>", "suite": "rbm", "property": "p3", "device": "cpu", "dtype": "float64",
         "status": "not_applicable", "line": "not applicable: needs `energy`", "subject": "lib (third-party)"},
    ]
    cdir = tmp_path / "conformance"
    atomic_write_json(cdir / "c.json", make_record(properties=rows, kind="conformance"))
    out = render_report(runs_dir=tmp_path / "runs", out=tmp_path / "r.html", asv_dir=None, conformance_dir=cdir)
    html = out.read_text()
    assert "id='conformance'" in html and "lib &lt;X&gt;" in html and "<script" not in html.split("<body>")[1]
    assert "href='#cf-0'>FAIL</a>" in html and "id='cf-0'" in html and "2 × expected everywhere" in html
    assert ">circular<" in html and ">n/a<" in html


# --------------------------------------------------------------------------------------------
# read at a glance: per-suite summary, folded matrices, collapsed device columns, failing cells
# --------------------------------------------------------------------------------------------
CPU_ENV = {"git_commit": "1" * 40, "cpu": "Test CPU 2-core", "gpu": None, "torch": "2", "hostname": "h"}
LONG_REASON = "weights of a query with no allowed key: observed tensor(shape=(3, 4, 7)) vs expected " + "x" * 200


def _prop(suite: str, prop: str, device: str, dtype: str, status: str, line: str = "", error: float | None = None):
    row = {"nodeid": f"suites/{suite}.yaml::{prop}[{device}-{dtype}]", "suite": suite, "property": prop, "check": prop,
           "device": device, "dtype": dtype, "seed": 1, "status": status, "line": line or f"{prop} {status}",
           "subject": f"reference_impls.{suite} (reference)", "location": f"suites/{suite}.yaml:3",
           "seconds": 0.01, "marks": ["cuda"] if device == "cuda" else [], "outcome": None}
    if status not in ("skipped",):
        row["outcome"] = {"passed": status == "passed", "statement": f"{prop} holds", "observed": "1", "expected": "1",
                          "error": error if error is not None else 1e-17, "tolerance": "atol 1e-10 + rtol 1e-10 (float64 default)",
                          "detail": "a long detail " * 20}
    return row


CUDA_SKIP = "CUDA not available here (torch 2.0+cpu, torch.cuda.is_available() is False)"


def _cpu_record(created: str, name: str, *, fail: bool = True, quick: bool | None = None, bench_scale: float = 1.0,
                batches=(32, 256), props: bool = True) -> dict:
    """A record of a CPU-only machine: suites alpha (passing), beta (one failure with a long
    reason, when ``fail``) and gamma (passing); every CUDA case skipped."""
    rows = []
    if props:
        for suite, names in (("alpha", ["a1", "a2"]), ("beta", ["b1", "b2", "b3"]), ("gamma", ["g1"])):
            for p in names:
                for dtype in ("float32", "float64"):
                    bad = fail and suite == "beta" and p == "b2" and dtype == "float64"
                    rows.append(_prop(suite, p, "cpu", dtype, "failed" if bad else "passed",
                                      LONG_REASON if bad else "", 0.25 if bad else None))
                    rows.append(_prop(suite, p, "cuda", dtype, "skipped", CUDA_SKIP))
    bench = []
    for batch in batches:
        med = bench_scale * 1e-3 * batch / 32
        bench.append({"suite": "alpha", "benchmark": "fwd", "workload": "forward", "device": "cpu", "dtype": "float32",
                      "batch": batch, "status": "ok", "median_s": med, "iqr_s": med / 20, "samples_per_s": batch / med,
                      "flops_per_step": 1000 * batch, "fraction_of_peak": 0.2, "builtin": "linear",
                      "builtin_ratio": 1.2, "subject": "reference_impls.alpha (reference)",
                      "samples_s": [med * (1 + 0.01 * i) for i in range(-3, 4)], "spread": 0.05, "unstable": False,
                      "builtin_ratio_ci": [1.1, 1.3], "peak_valid": True})
    rec = {"schema": 1, "kind": "run", "created": created, "_file": name, "environment": dict(CPU_ENV),
           "suites": {s: {"title": s.title(), "path": f"suites/{s}.yaml"} for s in ("alpha", "beta", "gamma")},
           "properties": rows, "benchmarks": bench}
    if quick is not None:
        rec["bench_info"] = {"quick": quick, "spread_threshold": 0.1}
    return rec


@pytest.fixture(scope="module")
def glance(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("glance") / "r.html"
    return render_report(runs_dir=out.parent / "none", out=out, asv_dir=None, conformance_dir=None,
                         records=[_cpu_record("2026-03-01T00:00:00+00:00", "cpu-1.json", quick=False)]).read_text()


def _text(fragment: str) -> str:
    """The text of an HTML fragment: cells and lines apart, inline tags gone."""
    spaced = re.sub(r"</?(td|th|tr|br|p|div|li)\b[^>]*>", " ", fragment)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", spaced)).strip()


def test_summary_is_one_row_per_suite_failures_first_linking_to_the_matrix(glance):
    page = glance
    summary = page[page.index("id='summary'"):page.index("id='properties'")]
    table = summary[summary.index("<table class='summary'>"):summary.index("</table>")]
    rows = re.findall(r"<tr class='[^']*'>(.*?)</tr>", table)
    assert [re.search(r">(\w+)</a>", r)[1] for r in rows] == ["beta", "alpha", "gamma"]  # failing suite first
    assert "<th>passed</th><th>failed</th><th>skipped (reason)</th><th>not applicable</th>" in table
    beta = _text(rows[0])
    assert beta == "beta 5 1 6 (CUDA: not available) 0", beta
    for suite in ("alpha", "beta", "gamma"):
        assert f"href='#suite-{suite}'" in table and f"id='suite-{suite}'" in page
    # the summary comes before the matrices; the failing suite's matrix is open, the others folded
    assert page.index("Summary per suite") < page.index("Property matrix")
    assert re.search(r"<details class='suite hasfail' id='suite-beta' open>", page)
    assert re.search(r"<details class='suite' id='suite-alpha'>", page)
    # the failed card links to the failures
    assert re.search(r"<a class=\"card\" href=\"#failures\"><b class=\"bad\">1</b>failed / errors</a>", page)


def test_all_skipped_cuda_collapses_into_one_line_on_a_cpu_machine(glance):
    page = glance
    assert "CUDA: not available on this machine, 12 cases" in _text(page)
    assert CUDA_SKIP in page
    matrices = page[page.index("id='properties'"):page.index("id='failures'")]
    assert "cuda float32" not in matrices and "cuda float64" not in matrices  # no column of skips
    assert "<th>cpu float32</th><th>cpu float64</th>" in matrices


def test_a_failing_cell_shows_its_reason_and_links_to_its_entry(glance):
    page = glance
    cell = re.search(r"<td class='bad'[^>]*title='([^']*)'><a href='#fail-0'>FAIL · 0\.25 \(atol 1e-10, rtol 1e-10\)</a>"
                     r"<span class='why'>([^<]*)</span></td>", page)
    assert cell, "no failing cell with a link and a reason"
    title, shown = cell[1], cell[2]
    assert title == html_escape(LONG_REASON)  # the whole reason on hover
    assert shown.startswith("weights of a query with no allowed key") and shown.endswith("…") and len(shown) < len(title)
    entry = re.search(r"<tr id='fail-0'>(.*?)</tr>", page)[1]
    assert html_escape(LONG_REASON) in entry and "href='#suite-beta'" in entry and "b2" in entry
    assert page.count("href='#fail-0'") == 1


def html_escape(s: str) -> str:
    import html

    return html.escape(s, quote=True)


def test_quick_and_full_records_are_never_merged(tmp_path):
    full = _cpu_record("2026-03-01T00:00:00+00:00", "full.json", quick=False, bench_scale=1.0)
    quick = _cpu_record("2026-03-02T00:00:00+00:00", "quick.json", quick=True, bench_scale=7.0, batches=(32,),
                        fail=False)
    page = render_report(runs_dir=tmp_path, out=tmp_path / "r.html", asv_dir=None, conformance_dir=None,
                         records=[full, quick]).read_text()
    through = page[page.index("id='throughput'"):page.index("id='charts'")]
    full_part = through[:through.index("<details")]
    quick_part = through[through.index("<details"):]
    # the full table: the full record's numbers only (1 ms at b32), never the quick one's (7 ms)
    assert "Full runs, from <code>full.json</code>" in full_part and "quick.json" not in full_part
    assert "1 ms" in full_part and "7 ms" not in full_part and "8 ms" in full_part  # b256 from the full run
    # the quick run: its own, labelled table
    assert "quick run" in quick_part and "not comparable with a full table, never merged into one" in quick_part
    assert "quick.json" in quick_part and "7 ms" in quick_part
    # the properties come from the latest full record; the page says which records it used
    note = _text(page[:page.index("id='summary'")])
    assert "Properties on Test CPU 2-core (no GPU) (full runs): full.json" in note
    assert "Throughput on Test CPU 2-core (no GPU) (full runs): full.json" in note
    assert "Throughput on Test CPU 2-core (no GPU) (quick runs): quick.json" in note
    # the history compares like with like: quick and full are different groups
    from harness.report import gather, history_groups

    d = gather(tmp_path, [full, quick, {**full, "created": "2026-03-03T00:00:00+00:00", "_file": "full2.json"}], (), None)
    groups = history_groups(d.B)
    assert [(k[1], sorted(g["record"].unique())) for k, g in groups] == [("full", ["full.json", "full2.json"])]


def test_unstable_rows_invalid_peaks_and_ratio_intervals_in_the_table(tmp_path):
    rec = _cpu_record("2026-03-01T00:00:00+00:00", "r.json", quick=False)
    rec["benchmarks"][0].update(unstable=True, spread=0.3)
    rec["benchmarks"][1].update(peak_valid=False, fraction_of_peak=None)
    page = render_report(runs_dir=tmp_path, out=tmp_path / "r.html", asv_dir=None, conformance_dir=None,
                         records=[rec]).read_text()
    through = page[page.index("id='throughput'"):page.index("id='charts'")]
    assert re.search(r"<td[^>]*>\s*ok · unstable\s*</td>", through)
    assert re.search(r"<td[^>]*>\s*above peak: not valid\s*</td>", through)
    assert "1.2 [1.1, 1.3]" in through
    assert re.search(r"<b class=\"bad\">1</b>unstable rows", page)


def _capture_charts(monkeypatch) -> list:
    import harness.report as report

    figs: list = []
    original = report._png

    def capture(fig, **kw):
        fig.canvas.draw()
        figs.append(fig)
        return original(fig, **kw)

    monkeypatch.setattr(report, "_png", capture)
    return figs


def test_charts_legends_are_readable_and_name_only_what_is_drawn(tmp_path, monkeypatch):
    from matplotlib.container import BarContainer, ErrorbarContainer

    figs = _capture_charts(monkeypatch)
    recs = [_cpu_record(f"2026-03-0{i}T00:00:00+00:00", f"r{i}.json", quick=False, bench_scale=1 + i / 10)
            for i in range(1, 4)]
    recs[-1]["benchmarks"][0]["unstable"] = True
    page = render_report(runs_dir=tmp_path, out=tmp_path / "r.html", asv_dir=DATA / "asv", conformance_dir=None,
                         records=recs).read_text()
    # a CPU-only machine: the key names the CPU only
    assert "Samples/s vs batch size, per suite (CPU dashed)" in page and "CUDA solid" not in page
    assert figs
    for fig in figs:
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            drawn = ({line.get_label() for line in ax.get_lines() if len(line.get_xdata())}
                     | {c.get_label() for c in ax.containers if isinstance(c, BarContainer) and len(c)})
            for text in legend.get_texts():
                assert text.get_fontsize() >= 9, text.get_text()
                label = text.get_text()
                red = any(b.get_edgecolor()[:3] == (214 / 255, 39 / 255, 40 / 255) or
                          b.get_facecolor()[:3] == (214 / 255, 39 / 255, 40 / 255) for b in ax.patches)
                assert (label in drawn or label.startswith(("unstable", "noise band"))
                        or (label.endswith(("(> 1)", "(< 1)")) and red)), label
            if any(t.get_text().startswith("unstable") for t in legend.get_texts()):
                assert ax.collections or any(b.get_hatch() for b in ax.patches)  # ringed points, hatched bars
    # the ratio chart has error bars from builtin_ratio_ci
    assert any(isinstance(c, ErrorbarContainer) for fig in figs for ax in fig.axes for c in ax.containers)
    # the history: a noise band (filled area) per series, and the unstable point ringed
    hist = figs[-1]
    assert any(ax.collections for ax in hist.axes)
    assert "History across commits" in page


def test_peak_valid_false_is_never_drawn_as_a_valid_fraction(tmp_path, monkeypatch):
    from harness.report import chart_peak
    import pandas as pd

    figs = _capture_charts(monkeypatch)
    rows = pd.DataFrame([
        {"suite": "s", "benchmark": "ok", "device": "cpu", "dtype": "float32", "batch": 8, "status": "ok",
         "fraction_of_peak": 0.4, "peak_valid": True, "flops_per_step": 10},
        {"suite": "s", "benchmark": "above", "device": "cpu", "dtype": "float32", "batch": 8, "status": "ok",
         "fraction_of_peak": 1.7, "peak_valid": False, "flops_per_step": 10},
        {"suite": "s", "benchmark": "old", "device": "cpu", "dtype": "float32", "batch": 8, "status": "ok",
         "fraction_of_peak": 1.3, "peak_valid": None, "flops_per_step": 10},  # an old record: above 1 is not valid
    ])
    assert chart_peak(rows)
    ax = figs[-1].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["s/ok float32 b8"] and [t.get_text() for t in ax.get_legend().get_texts()] == ["CPU"]
    assert "2 row(s) above the measured peak left out" in ax.get_title()


def test_old_whole_rows_and_new_compact_rows_read_alike(tmp_path):
    from harness.records import atomic_write_json, compact_record

    runs = tmp_path / "runs"
    old = _cpu_record("2026-03-01T00:00:00+00:00", "old.json")
    new = compact_record({**_cpu_record("2026-03-02T00:00:00+00:00", "new.json", quick=False), "_file": None})
    assert "compact" in new and any("suite" not in r for r in new["properties"])  # rows really are compact
    for name, rec in (("old.json", old), ("new.json", new)):
        atomic_write_json(runs / name, {k: v for k, v in rec.items() if k != "_file"})
    page = render_report(runs_dir=runs, out=tmp_path / "r.html", asv_dir=None, conformance_dir=None).read_text()
    assert "Properties on Test CPU 2-core (no GPU) (full runs): new.json" in _text(page)
    assert "FAIL · 0.25 (atol 1e-10, rtol 1e-10)" in page and html_escape(LONG_REASON) in page  # failure text whole
    assert "pass · 1e-17 (atol 1e-10, rtol 1e-10)" in page
    assert "CUDA: not available on this machine, 12 cases" in _text(page)
