"""Every kind of malformed suite is rejected with one located line (file, line, what, allowed)."""
from __future__ import annotations

from harness.cases import property_cases

import textwrap

import pytest

from harness.suite import SuiteError, load_suite

GOOD = """\
suite: demo
title: Demo
subject:
  factory: reference_impls.activations
defaults: {devices: [cpu], dtypes: [float64], seed: 0}
properties:
  - check: softmax_sums_to_one
"""


def load_text(tmp_path, text: str):
    p = tmp_path / "demo.yaml"
    p.write_text(textwrap.dedent(text))
    return load_suite(p, root=tmp_path)


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(SuiteError) as ei:
        load_text(tmp_path, text)
    lines = str(ei.value).splitlines()
    assert all(line.startswith("demo.yaml:") for line in lines), lines
    return lines


def test_good_suite_loads(tmp_path):
    s = load_text(tmp_path, GOOD)
    assert s.name == "demo" and [c.id for c in property_cases(s)] == ["softmax_sums_to_one[cpu-float64]"]


@pytest.mark.parametrize("text, expected", [
    pytest.param(GOOD.replace("  - check: softmax_sums_to_one", "  - check: [softmax"), "demo.yaml:8: YAML syntax error",
                 id="yaml-syntax"),
    pytest.param(GOOD + "    devcies: [cpu]\n", "demo.yaml:8: unknown key 'devcies' in property #1 (did you mean 'devices'?); allowed: check, id,",
                 id="unknown-key"),
    pytest.param(GOOD.replace("softmax_sums_to_one", "softmax_sum_to_one"),
                 "demo.yaml:7: unknown check 'softmax_sum_to_one' (did you mean 'softmax_sums_to_one'?)", id="unknown-check"),
    pytest.param(GOOD.replace("reference_impls.activations", "reference_impls.activatons"),
                 "demo.yaml:4: cannot import module 'reference_impls.activatons'", id="unknown-subject-module"),
    pytest.param(GOOD.replace("reference_impls.activations", "reference_impls.activations:sofmax"),
                 "demo.yaml:4: module 'reference_impls.activations' has no 'sofmax'; did you mean 'softmax'?",
                 id="unknown-subject-attr"),
    pytest.param(GOOD.replace("reference_impls.activations", "os.path"),
                 "demo.yaml:4: subject.factory must name a class or function defined in a reference_impls module "
                 "(module 'os.path' is not reference_impls or reference_impls.<name>); name third-party implementations "
                 "on the command line (--impl SUITE=pkg.module:Attr)", id="subject-outside-reference-impls"),
    pytest.param(GOOD + "    with: {rows: ten}\n",
                 "demo.yaml:8: parameter 'rows' of check 'softmax_sums_to_one' must be int, got a string 'ten'", id="wrong-type"),
    pytest.param(GOOD.replace("seed: 0", "seed: -3"), "demo.yaml:5: defaults.seed must be >= 0, got -3", id="bad-value-seed"),
    pytest.param(GOOD.replace("dtypes: [float64]", "dtypes: [float65]"),
                 "demo.yaml:5: defaults.dtypes has 'float65' (did you mean 'float64'?); allowed: float16, bfloat16, float32, float64",
                 id="bad-value-dtype"),
    pytest.param(GOOD.replace("factory: reference_impls.activations", "factory: !!python/name:os.system"),
                 "demo.yaml:4: YAML tag 'tag:yaml.org,2002:python/name:os.system' is not allowed", id="yaml-tag"),
    pytest.param(GOOD + "    tolerance: {float64: {atol: 1.0e-6}}\n",
                 "demo.yaml:8: tolerance is missing required key 'why'", id="tolerance-without-why"),
    pytest.param(GOOD + "    xfail: {devices: [cpu], dtypes: [float64]}\n",
                 "demo.yaml:8: xfail is missing required key 'reason'", id="xfail-without-reason"),
    pytest.param(GOOD + "    xfail: {reason: flaky, devices: [cuda], dtypes: [float64]}\n",
                 "demo.yaml:8: xfail.devices has 'cuda'", id="xfail-selector-outside-property"),
    pytest.param(GOOD + "    marks: [slo]\n", "demo.yaml:8: marks has 'slo' (did you mean 'slow'?)", id="unknown-mark"),
    pytest.param(GOOD + "  - check: softmax_sums_to_one\n", "demo.yaml:8: property id 'softmax_sums_to_one' is used twice",
                 id="duplicate-id"),
    pytest.param(GOOD.replace("title: Demo\n", "title: Demo\ntitle: Again\n"), "demo.yaml:3: duplicate key 'title' (first at line 2)",
                 id="duplicate-key"),
    pytest.param(GOOD.replace("title: Demo\n", ""), "demo.yaml:1: suite is missing required key 'title'", id="missing-key"),
    pytest.param(GOOD + "benchmarks:\n  - workload: backward\n    batch_sizes: [0]\n    inputs: [{shape: [4]}]\n",
                 "demo.yaml:9: unknown workload 'backward'", id="bench-bad-workload"),
])
def test_bad_suite_is_one_located_line(tmp_path, text, expected):
    lines = problems(tmp_path, text)
    assert any(line.startswith(expected) for line in lines), "\n".join(lines)
    assert all("Traceback" not in line for line in lines)


def test_all_problems_reported_each_on_its_own_line(tmp_path):
    lines = problems(tmp_path, GOOD.replace("seed: 0", "seed: -1") + "    devcies: [cpu]\n")
    assert len(lines) == 2
    assert lines[0].startswith("demo.yaml:5:") and lines[1].startswith("demo.yaml:8:")


def test_non_utf8_file(tmp_path):
    p = tmp_path / "demo.yaml"
    p.write_bytes(b"suite: demo\ntitle: \xff\xfe\n")
    with pytest.raises(SuiteError, match=r"demo.yaml:2: not UTF-8 text: byte 0xff at column 8"):
        load_suite(p, root=tmp_path)


# --------------------------------------------------------------------------------------------
# The loader is total: every malformed input below is exactly one SuiteError at the right line
# with a message saying what is wrong and what is allowed (never another exception, never a
# hang), and a valid suite in the same directory still loads.
# --------------------------------------------------------------------------------------------
import os
import socket
import sys
from pathlib import Path

from harness import yamlsrc
from harness.suite import Suite, check_unique_names, discover, is_suite_file


def located(tmp_path, content, name: str = "demo.yaml", **kw) -> list[tuple[int, str]]:
    """Load ``content`` (text or bytes) as ``name``: it must raise exactly a SuiteError whose
    text is one ``name:line: message`` per problem; a good suite beside it must still load."""
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8", newline="")
    with pytest.raises(SuiteError) as ei:
        load_suite(p, root=tmp_path, **kw)
    e = ei.value
    assert type(e) is SuiteError
    out = str(e).splitlines()
    assert len(out) == len(e.problems) >= 1
    for (line, msg), text in zip(e.problems, out):
        assert text == f"{name}:{line}: {msg}" and msg.strip()
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert load_suite(good, root=tmp_path).name == "demo"
    return e.problems


def only(problems: list[tuple[int, str]], line: int, *fragments: str) -> None:
    """Exactly one problem, at ``line``, whose message contains every fragment."""
    assert len(problems) == 1, problems
    assert problems[0][0] == line, problems
    for f in fragments:
        assert f in problems[0][1], problems


def with_line(line: str, at: int = 8) -> str:
    """GOOD with ``line`` inserted as line ``at`` (8: the first property's second line)."""
    rows = GOOD.splitlines(keepends=True)
    return "".join(rows[: at - 1] + [line + "\n"] + rows[at - 1:])


# -- 1. aliases, depth, size -------------------------------------------------------------------
def test_alias_bomb_is_refused_before_expansion(tmp_path):
    levels = ['x0: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i, (prev, cur) in enumerate(zip("abcdef", "bcdefg"), 1):
        levels.append(f"x{i}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    bomb = "\n".join(levels) + "\n"
    assert len(bomb) < 500  # a few hundred bytes that would expand to 9**7 strings
    text = GOOD.replace("subject:", bomb + "subject:")
    only(located(tmp_path, text), 3, "YAML aliases are not allowed in a suite", "&a")


@pytest.mark.parametrize("snippet, line", [
    ("  params: &p {self: *p}", 5),                 # a recursive alias
    ("  params: {tree: &t [1, [*t]]}", 5),          # recursive through a list
    ("  params: *undefined", 5),                    # an alias with no anchor
    ("  params: &ok {a: 1}", 5),                    # an anchor alone is refused too
    ("  params: {<<: *base}", 5),                   # a merge key is refused first
])
def test_recursive_and_stray_aliases(tmp_path, snippet, line):
    expected = "YAML merge keys (<<) are not allowed" if "<<" in snippet else "YAML aliases are not allowed in a suite"
    only(located(tmp_path, with_line(snippet, 5)), line, expected)


def test_ten_thousand_deep_nesting(tmp_path):
    n = 10_000
    only(located(tmp_path, with_line("    with: " + "[" * n + "]" * n)), 8,
         f"nested more than {yamlsrc.MAX_DEPTH} levels", f"at most {yamlsrc.MAX_DEPTH}")
    only(located(tmp_path, with_line("    with: " + "{a: " * n + "1" + "}" * n)), 8, "nested more than")


def test_deep_block_nesting_reports_the_line_where_it_gets_too_deep(tmp_path):
    body = "".join("  " * (i + 1) + f"k{i}:\n" for i in range(60))
    text = GOOD.replace("subject:\n", "subject:\n  params:\n" + "".join("  " + r + "\n" for r in body.splitlines()))
    # the mapping holding k<i> starts at line 5 + i and is nesting level 3 + i (root, subject, ...)
    (line, msg), = located(tmp_path, text)
    assert f"nested more than {yamlsrc.MAX_DEPTH} levels" in msg and line == 5 + (yamlsrc.MAX_DEPTH + 1 - 3)


def test_nesting_at_the_limit_loads(tmp_path):
    depth = yamlsrc.MAX_DEPTH - 3  # root mapping, subject, params
    ok = GOOD.replace("  factory: reference_impls.activations\n",
                      "  factory: reference_impls.activations\n  params: {tree: " + "[" * depth + "]" * depth + "}\n")
    (tmp_path / "ok.yaml").write_text(ok)
    assert load_suite(tmp_path / "ok.yaml", root=tmp_path).subject.params["tree"] == eval("[" * depth + "]" * depth)
    too_deep = ok.replace("[" * depth, "[" * (depth + 1)).replace("]" * depth, "]" * (depth + 1))
    only(located(tmp_path, too_deep), 5, "nested more than")


def test_oversized_file(tmp_path):
    big = GOOD + "# " + "x" * yamlsrc.MAX_SIZE + "\n"
    only(located(tmp_path, big), 1, f"larger than {yamlsrc.MAX_SIZE} bytes")
    assert is_suite_file(tmp_path / "demo.yaml")  # still recognised, so the error is reported


def test_second_document(tmp_path):
    only(located(tmp_path, GOOD + "---\nsuite: other\n"), 8, "single YAML document")


# -- 2. values of the wrong type or that cannot be read ----------------------------------------
@pytest.mark.parametrize("seed, fragment", [
    ("0x", "defaults.seed must be int, got a string '0x'"),
    ("0x_", "'0x_' cannot be read as an integer"),
    ("0b_", "'0b_' cannot be read as an integer"),
    ("9" * 5000, "cannot be read as an integer (too many digits)"),
    ("._", "defaults.seed must be int"),
    ("1.0e+999", "defaults.seed must be int, got a number inf"),
    (".nan", "defaults.seed must be int, got a number nan"),
    ("1.5", "defaults.seed must be int, got a number 1.5"),
    ("true", "defaults.seed must be int, got a boolean True"),
    ("[0]", "defaults.seed must be int, got a list [0]"),
    ("{a: 1}", "defaults.seed must be int, got a mapping"),
    ("null", "defaults.seed must be int, got null"),
    (str(2**40), "defaults.seed must be at most 4294967295"),
    ("!!int ''", "'' cannot be read as an integer"),
    ("!!float ''", "'' cannot be read as a number"),
    ("!!bool maybe", "'maybe' cannot be read as a boolean"),
    ("2024-01-01", "reads as a YAML date/time"),
    ("=", "reads as a YAML value key"),
])
def test_malformed_numbers_and_types(tmp_path, seed, fragment):
    only(located(tmp_path, GOOD.replace("seed: 0", f"seed: {seed}")), 5, fragment)


@pytest.mark.parametrize("line, at, fragment", [
    ("    id: [a]", 8, "id must be str, got a list ['a']"),
    ("    id: {a: 1}", 8, "id must be str, got a mapping"),
    ("    id: 3", 8, "id must be str, got an integer 3"),
    ("    with: [rows]", 8, "with must be dict, got a list"),
    ("    with: {scale: .nan}", 8, "parameter 'scale' of check 'softmax_sums_to_one' must be a finite number, got nan"),
    ("    with: {scale: -.inf}", 8, "must be a finite number, got -inf"),
    ("    with: {rows: 1.0e+999}", 8, "parameter 'rows' of check 'softmax_sums_to_one' must be int, got a number inf"),
    (f"    with: {{rows: {2**70}}}", 8, "must be an integer from"),
    ("    params: {1: 2}", 8, "a mapping key must be a string, got an integer 1"),
    ("    params: {'not a name': 2}", 8, "params key 'not a name' must be an identifier"),
    ("    ? [a]\n    : 1", 8, "a mapping key must be a plain string, not a mapping or a list"),
    ("    null: 1", 8, "a mapping key must be a string, got null"),
    ("    devices: cpu", 8, "devices must be a list, got a string 'cpu'; allowed items: cpu"),
    ("    devices: [[cpu]]", 8, "devices has ['cpu']"),
    ("    marks: {slow: 1}", 8, "marks must be a list"),
    ("    xfail: [a]", 8, "xfail must be a mapping, got a list ['a']; allowed keys: reason, devices, dtypes"),
    ("    tolerance: null", 8, "tolerance must be a mapping, got null"),
    ('    "a\\nb": 1', 8, "unknown key 'a\\nb' in property #1"),
])
def test_wrong_types_in_a_property(tmp_path, line, at, fragment):
    only(located(tmp_path, with_line(line)), at, fragment)


def test_check_of_the_wrong_type(tmp_path):
    only(located(tmp_path, GOOD.replace("check: softmax_sums_to_one", "check: {x: 1}")), 7,
         "check must be str, got a mapping {'x': 1}")
    only(located(tmp_path, GOOD.replace("- check: softmax_sums_to_one", "- [check, softmax_sums_to_one]")), 7,
         "property #1 must be a mapping, got a list")


@pytest.mark.parametrize("subject, fragment", [
    ("subject:\n", "subject must be a mapping, got null"),
    ("subject: []\n", "subject must be a mapping, got a list []; allowed keys: factory, params"),
    ("subject: {params: {}}\n", "subject is missing required key 'factory'"),
    ("subject: {factory: [reference_impls.activations]}\n", "subject.factory must be str, got a list"),
    ("subject: {factory: reference_impls.activations, params: [1]}\n", "subject.params must be dict, got a list"),
])
def test_empty_or_malformed_subject(tmp_path, subject, fragment):
    text = GOOD.replace("subject:\n  factory: reference_impls.activations\n", subject)
    only(located(tmp_path, text), 3, fragment)


@pytest.mark.parametrize("doc, fragment", [
    ("", "suite must be a mapping, got null"),
    ("# only a comment\n", "suite must be a mapping, got null"),
    ("- a\n- b\n", "suite must be a mapping, got a list"),
    ("just text\n", "suite must be a mapping, got a string"),
])
def test_whole_document_of_the_wrong_kind(tmp_path, doc, fragment):
    only(located(tmp_path, doc), 1, fragment)


# -- 3. encodings and characters ---------------------------------------------------------------
def test_bom_suite_is_collected_and_loads(tmp_path):
    p = tmp_path / "bom.yaml"
    p.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert is_suite_file(p) and discover([tmp_path]) == [p]
    assert load_suite(p, root=tmp_path).name == "demo"
    # and line numbers after a BOM are still the editor's
    only(located(tmp_path, b"\xef\xbb\xbf" + GOOD.replace("seed: 0", "seed: -1").encode()), 5, "defaults.seed must be >= 0")


def test_bad_bytes_reported_at_their_line(tmp_path):
    raw = GOOD.encode().replace(b"  factory:", b"  \xc3\x28factory:")
    only(located(tmp_path, raw), 4, "not UTF-8 text: byte 0xc3 at column 3", "save the suite as UTF-8")
    raw3 = b"suite: demo\ntitle: Demo\nsubject: \xff\n"
    only(located(tmp_path, raw3), 3, "not UTF-8 text: byte 0xff at column 10")


def test_utf16_file(tmp_path):
    only(located(tmp_path, GOOD.encode("utf-16")), 1, "not UTF-8 text", "UTF-16")


@pytest.mark.parametrize("char, fragment", [
    ("\x01", "the control character U+0001 is not allowed in a suite"),
    ("\x00", "the control character U+0000"),
    ("\x7f", "the control character U+007F"),
    ("\x1b", "the control character U+001B"),
    ("\u2028", "the line break U+2028"),
    ("\x85", "the line break U+0085"),
    ("\r", "a carriage return (CR) outside a CRLF line end"),
])
def test_control_characters_reported_at_their_line(tmp_path, char, fragment):
    only(located(tmp_path, with_line(f"    id: a{char}b")), 8, fragment, "allowed: tab, newline and printable text")


def test_crlf_suite_loads_with_the_same_lines(tmp_path):
    crlf = GOOD.replace("seed: 0", "seed: -1").replace("\n", "\r\n")
    only(located(tmp_path, crlf), 5, "defaults.seed must be >= 0")


# -- 4. numbers that make no sense -------------------------------------------------------------
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "-1.0e-3", "-1", str(10**400), "'1e-6'", "true"])
@pytest.mark.parametrize("key", ["atol", "rtol"])
def test_tolerance_must_be_finite_and_non_negative(tmp_path, key, value):
    line = f"    tolerance: {{float64: {{{key}: {value}}}, why: measured}}"
    (ln, msg), = located(tmp_path, with_line(line))
    assert ln == 8 and f"tolerance.float64.{key} must be" in msg


BENCH = "benchmarks:\n  - {workload: forward, call: softmax, batch_sizes: [4], inputs: [{shape: [8]}]}\n"


@pytest.mark.parametrize("old, new, fragment", [
    ("batch_sizes: [4]", "batch_sizes: [0]", "batch size must be a positive integer"),
    ("batch_sizes: [4]", "batch_sizes: [-4]", "batch size must be a positive integer"),
    ("batch_sizes: [4]", "batch_sizes: [1.5]", "each batch size must be int, got a number 1.5"),
    ("batch_sizes: [4]", "batch_sizes: [.inf]", "each batch size must be int, got a number inf"),
    ("batch_sizes: [4]", "batch_sizes: [.nan]", "each batch size must be int, got a number nan"),
    ("batch_sizes: [4]", f"batch_sizes: [{2**40}]", "of at most 2147483647"),
    ("batch_sizes: [4]", "batch_sizes: []", "batch_sizes must list at least one size"),
    ("batch_sizes: [4]", "batch_sizes: 4", "batch_sizes must be list"),
    ("{shape: [8]}", "{shape: [.nan]}", "each input dimension must be int, got a number nan"),
    ("{shape: [8]}", "{shape: [0]}", "input dimension must be a positive integer"),
    ("{shape: [8]}", "{shape: 8}", "input shape (per sample, batch excluded) must be list"),
    ("{shape: [8]}", "{shape: [8], high: .nan}", "input high must be int, got a number nan"),
    ("{shape: [8]}", "{shape: [8], high: 0}", "input high must be an integer from 1 to"),
    ("{shape: [8]}", "{shape: [8], kind: [x]}", "unknown input kind ['x']; allowed: normal, uniform, bernoulli, integers"),
    ("{shape: [8]}", "[8]", "input must be a mapping, got a list [8]"),
    ("call: softmax", "call: softmax, id: [x]", "benchmark id must be str, got a list ['x']"),
    ("call: softmax", "call: softmax, id: 'a b'", "benchmark id 'a b' must be an identifier"),
    ("call: softmax", "call: softmax, params: {1.5: x}", "a mapping key must be a string, got a number 1.5"),
    ("call: softmax", "call: softmax, builtin: [x]", "builtin must be str, got a list"),
    ("call: softmax", "call: softmax, builtin_params: [x]", "builtin_params must be dict, got a list"),
    ("workload: forward", "workload: [forward]", "workload must be str, got a list"),
])
def test_benchmark_values(tmp_path, old, new, fragment):
    assert old in BENCH
    only(located(tmp_path, GOOD + BENCH.replace(old, new)), 9, fragment)


def test_duplicate_benchmark_id(tmp_path):
    (ln, msg), = located(tmp_path, GOOD + BENCH + BENCH.split("\n", 1)[1])
    assert ln == 10 and "benchmark id 'softmax_forward' is used twice (first at line 9)" in msg


# -- 5. benchmark call: ------------------------------------------------------------------------
@pytest.mark.parametrize("call, fragment", [
    ("sofmax", "unknown call 'sofmax': subject reference_impls.activations has no function 'sofmax' (did you mean 'softmax'?)"),
    ("no_such_function", "unknown call 'no_such_function'"),
    ("ACTIVATIONS", "unknown call 'ACTIVATIONS'"),          # an attribute, but not a function
    ("torch", "unknown call 'torch'"),                      # a module, not a function
    ("__init__", "must be the name of a function of the subject"),
    ("os.system", "must be the name of a function of the subject"),
    ("[softmax]", "call must be str, got a list"),
    ("''", "must be the name of a function of the subject"),
])
def test_unknown_call(tmp_path, call, fragment):
    only(located(tmp_path, GOOD + BENCH.replace("call: softmax", f"call: {call}")), 9, fragment)


def test_known_call_loads(tmp_path):
    (tmp_path / "b.yaml").write_text(GOOD + BENCH)
    (b,) = load_suite(tmp_path / "b.yaml", root=tmp_path).benchmarks
    assert b.call == "softmax" and b.id == "softmax_forward" and b.line == 9


# -- 6. directories: FIFOs, sockets, symlink loops ---------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_in_a_suite_directory_is_skipped_not_read(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # nobody ever writes to it: reading it would block forever
    assert not is_suite_file(fifo)
    assert discover([tmp_path]) == [tmp_path / "good.yaml"]
    assert discover([fifo]) == []
    with pytest.raises(SuiteError, match=r"^pipe.yaml:1: a suite must be a regular file, this is a FIFO$"):
        load_suite(fifo, root=tmp_path)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets on this platform")
def test_socket_in_a_suite_directory_is_skipped(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    path = tmp_path / "s.yaml"
    if len(str(path)) > 100:
        pytest.skip("tmp path too long for a unix socket")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        assert not is_suite_file(path)
        assert discover([tmp_path]) == [tmp_path / "good.yaml"]
        with pytest.raises(SuiteError, match=r"this is a socket"):
            load_suite(path, root=tmp_path)


def test_device_is_not_a_suite(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")  # endless bytes: reading it would never finish
    assert not is_suite_file(link)
    with pytest.raises(SuiteError, match=r"this is a character device"):
        load_suite(link, root=tmp_path)


def test_symlink_loops_do_not_hang(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)                 # a file symlink to itself
    (tmp_path / "sub").symlink_to(tmp_path, target_is_directory=True)  # a directory loop
    assert not is_suite_file(loop)
    assert discover([tmp_path]) == [tmp_path / "good.yaml"]
    with pytest.raises(SuiteError, match=r"loop.yaml:1: cannot read the suite"):
        load_suite(loop, root=tmp_path)


def test_same_file_discovered_once(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    assert discover([tmp_path, tmp_path / "good.yaml", tmp_path]) == [tmp_path / "good.yaml"]


def test_missing_file(tmp_path):
    with pytest.raises(SuiteError, match=r"^nope.yaml:1: cannot read the suite"):
        load_suite(tmp_path / "nope.yaml", root=tmp_path)


# -- 7. factory safety -------------------------------------------------------------------------
PWN = """\
from pathlib import Path
Path({marker!r}).write_text("imported")
def run(**kw):
    Path({marker!r}).write_text("called")
"""


@pytest.fixture
def pwn(tmp_path, monkeypatch):
    """A module on sys.path that writes ``marker`` when imported or called."""
    marker = tmp_path / "PWNED"
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "pwn_dlh.py").write_text(PWN.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(lib))
    monkeypatch.delitem(sys.modules, "pwn_dlh", raising=False)
    yield marker
    assert "pwn_dlh" not in sys.modules


RULE = "subject.factory must name a class or function defined in a reference_impls module"
ADVICE = "name third-party implementations on the command line (--impl SUITE=pkg.module:Attr)"


@pytest.mark.parametrize("factory, fragment", [
    ("reference_impls.rbm:torch.os.system", "'torch.os.system' is not one plain name (an attribute chain may reach other modules)"),
    ("reference_impls.rbm:torch", "reference_impls.rbm:torch is the module 'torch'"),
    ("reference_impls.rbm:nn", "is the module 'torch.nn'"),
    ("reference_impls.rbm:F", "is the module 'torch.nn.functional'"),
    ("reference_impls.rbm:dataclass", "reference_impls.rbm:dataclass is defined in 'dataclasses', not in reference_impls.rbm"),
    ("reference_impls.activations:ACTIVATIONS", "is a dict object, not a class or function"),
    ("reference_impls.activations:annotations", "not a class or function"),
    ("reference_impls:rbm.torch", "'rbm.torch' is not one plain name"),
    ("reference_impls:rbm", "reference_impls:rbm is the module 'reference_impls.rbm'"),
    ("reference_impls.rbm:__builtins__", "'__builtins__' is a dunder name"),
    ("reference_impls.rbm:__class__", "'__class__' is a dunder name"),
    ("reference_impls.rbm:", "'' is not one plain name"),
    ("os:system", "module 'os' is not reference_impls or reference_impls.<name>"),
    ("subprocess:run", "module 'subprocess' is not reference_impls"),
    ("builtins:exec", "module 'builtins' is not reference_impls"),
    ("pwn_dlh:run", "module 'pwn_dlh' is not reference_impls"),
    ("pwn_dlh", "module 'pwn_dlh' is not reference_impls"),
    ("reference_impls.rbm.os:system", "module 'reference_impls.rbm.os' is not reference_impls"),
    ("reference_impls..pwn_dlh", "is not reference_impls"),
    ("reference_impls.__init__:os", "is not reference_impls"),
    ("reference_impls.rbm:RBM.__init__.__globals__", "is not one plain name"),
])
def test_factory_cannot_reach_other_modules(tmp_path, pwn, factory, fragment):
    text = GOOD.replace("factory: reference_impls.activations",
                        f"factory: '{factory}'\n  params: {{command: 'touch {pwn}', args: 'touch {pwn}', shell: true}}")
    only(located(tmp_path, text), 4, RULE, fragment, ADVICE)
    assert not pwn.exists()


def test_factory_in_a_missing_reference_module(tmp_path):
    only(located(tmp_path, GOOD.replace("reference_impls.activations", "reference_impls.nonexistent:X")), 4,
         "cannot import module 'reference_impls.nonexistent'")


def test_yaml_tags_construct_nothing(tmp_path, pwn):
    for tag in ("!!python/object/apply:pwn_dlh.run []", "!!python/name:pwn_dlh.run ''", "!!python/module:pwn_dlh ''"):
        only(located(tmp_path, with_line(f"    params: {{x: {tag}}}")), 8, "is not allowed")
    assert not pwn.exists()


def test_reference_factories_still_load(tmp_path):
    for factory in ("reference_impls.rbm:RBM", "reference_impls.activations", "reference_impls.vae:VAE"):
        (tmp_path / "f.yaml").write_text(GOOD.replace("reference_impls.activations", factory)
                                         .replace("softmax_sums_to_one", "softmax_sums_to_one" if factory.endswith("activations") else "x"))
        if factory.endswith("activations"):
            assert load_suite(tmp_path / "f.yaml", root=tmp_path).subject.target == factory
        else:  # the check does not fit these subjects, but the factory itself is accepted
            with pytest.raises(SuiteError) as ei:
                load_suite(tmp_path / "f.yaml", root=tmp_path)
            assert RULE not in str(ei.value) and "unknown check 'x'" in str(ei.value)


def test_third_party_comes_from_the_command_line(tmp_path, monkeypatch):
    """``impl`` may name anything, even a module that re-exports the reference functions; the
    same target written in the suite is refused."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "thirdparty_dlh.py").write_text("from reference_impls.activations import *  # noqa\n"
                                           "from reference_impls.activations import softmax\n")
    monkeypatch.syspath_prepend(str(lib))
    monkeypatch.delitem(sys.modules, "thirdparty_dlh", raising=False)
    (tmp_path / "demo.yaml").write_text(GOOD)
    s = load_suite(tmp_path / "demo.yaml", impl={"demo": "thirdparty_dlh:softmax"}, root=tmp_path)
    assert s.subject.target == "thirdparty_dlh:softmax"
    only(located(tmp_path, GOOD.replace("reference_impls.activations", "thirdparty_dlh:softmax")), 4, RULE)
    # a bad command-line target is still one located line, naming the --impl
    only(located(tmp_path, GOOD, impl={"demo": "thirdparty_dlh:nothere"}), 4, "--impl demo=thirdparty_dlh:nothere")


# -- 8. suite names ----------------------------------------------------------------------------
def test_duplicate_suite_names(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text("# the same name again\n" + GOOD)
    (tmp_path / "c.yaml").write_text(GOOD.replace("suite: demo", "suite: other"))
    suites = [load_suite(f, root=tmp_path) for f in discover([tmp_path])]
    assert [s.name for s in suites] == ["demo", "demo", "other"]
    (err,) = check_unique_names(suites)
    assert isinstance(err, SuiteError) and err.path == "b.yaml" and err.line == 2
    assert str(err) == "b.yaml:2: suite name 'demo' is already used by a.yaml:1; suite names must be unique (rename one)"
    assert check_unique_names(suites[:1] + suites[2:]) == []
    assert check_unique_names([suites[0], load_suite(tmp_path / "a.yaml", root=tmp_path)]) == []  # the same file twice


def test_suite_records_the_line_of_its_name(tmp_path):
    (tmp_path / "a.yaml").write_text("# header\n\n" + GOOD)
    s = load_suite(tmp_path / "a.yaml", root=tmp_path)
    assert isinstance(s, Suite) and s.line == 3


def test_messages_keep_quoted_whitespace_and_stay_on_one_line(tmp_path):
    """Found by the long fuzz run: the one-line normalisation must not change quoted values."""
    only(located(tmp_path, GOOD.replace("suite: demo", "suite: '  '")), 1, "suite name '  ' must be an identifier")
    only(located(tmp_path, with_line('    "a\\u2028b\\n  c": 1')), 8, "unknown key 'a\\u2028b\\n  c' in property #1")
    e = SuiteError("x.yaml", [(3, "first\nsecond\u2028third")])
    assert str(e) == "x.yaml:3: first second third" and e.problems == [(3, "first second third")]
