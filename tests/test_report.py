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

    def capture(fig):
        fig.canvas.draw()  # tick labels are made at draw time
        for t in fig.findobj(Text):
            assert not t.get_usetex()
            s, is_math = t._preprocess_math(t.get_text())
            (math if is_math else shown).append(s)
        return original(fig)

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
