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
