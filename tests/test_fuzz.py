"""Hypothesis fuzzing of the suite loader: it is total.

Whatever the bytes of a file, :func:`harness.suite.load_suite` returns a :class:`Suite` or
raises :class:`SuiteError` whose text is one ``file:line: message`` per problem, each line
inside the file; any other exception fails the test, and so would a hang. A suite that loads
must also expand into its cases. Inputs: random text and bytes, random structures dumped
with ``yaml.safe_dump`` (free-form and suite-shaped), soups of YAML tokens (anchors, aliases,
tags, merge keys, tabs, control characters, directives), deep brackets, and random edits of
the shipped ``suites/*.yaml`` (lines deleted, duplicated, swapped, re-indented; a scalar
replaced by a value of another type; random bytes inserted; truncation).

Profiles, chosen with the environment variable ``DLH_FUZZ_PROFILE``:

- ``ci`` (the default): derandomized (the same ~300 examples on every run, in total across
  the tests below), no deadline; a few seconds, so it runs with the normal tests;
- ``long``: ~6000 fresh random examples in total (not derandomized), for a soak after
  changing the loader::

      DLH_FUZZ_PROFILE=long pytest -q -p no:cacheprovider tests/test_fuzz.py

No example database is written (``database=None``); a failure prints the minimal example and a
``@reproduce_failure`` blob.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from harness.cases import bench_cases, property_cases  # noqa: E402
from harness.registry import load_checks  # noqa: E402
from harness.suite import Suite, SuiteError, is_suite_file, load_suite  # noqa: E402

pytestmark = pytest.mark.fuzz

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile("ci", derandomize=True, max_examples=300, deadline=None, database=None,
                          suppress_health_check=_SLOW, print_blob=True)
settings.register_profile("long", derandomize=False, max_examples=6000, deadline=None, database=None,
                          suppress_health_check=_SLOW, print_blob=True)
PROFILE = os.environ.get("DLH_FUZZ_PROFILE", "ci")
_BASE = settings.get_profile(PROFILE)


def budget(share: float) -> settings:
    """This test's part of the profile's total number of examples."""
    return settings(_BASE, max_examples=max(1, round(_BASE.max_examples * share)))


ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {p.name: p.read_bytes() for p in sorted((ROOT / "suites").glob("*.yaml"))}
CHECKS = sorted(load_checks())

GOOD = """\
suite: demo
title: Demo
subject:
  factory: reference_impls.activations
defaults: {devices: [cpu], dtypes: [float64], seed: 0}
properties:
  - check: softmax_sums_to_one
"""


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def assert_total(where: Path, data: bytes) -> Suite | None:
    """``data`` as a suite file loads or is a well-formed SuiteError; nothing else."""
    p = where / "fuzz.yaml"
    p.write_bytes(data)
    assert isinstance(is_suite_file(p), bool)
    try:
        suite = load_suite(p, root=where)
    except SuiteError as e:
        out = str(e).splitlines()
        assert e.problems and len(out) == len(e.problems), out
        last = data.count(b"\n") + 1
        for (line, msg), text in zip(e.problems, out):
            assert text == f"fuzz.yaml:{line}: {msg}" and msg.strip(), text
            assert 1 <= line <= last, (line, last, text)
        return None
    assert isinstance(suite, Suite)
    property_cases(suite)
    bench_cases(suite)
    return suite


# -- vocabulary --------------------------------------------------------------------------------
SCALARS = [
    "0", "-1", "1.5", "-0.0", "0x", "0x_", "0b_", "0o7", "._", "1.0e+999", "-1.0e+999", ".nan", ".NaN", ".inf", "-.inf",
    "9" * 400, "9" * 5000, "1_000", "190:20:30", "true", "yes", "off", "null", "~", "''", '""', "2024-01-01",
    "2001-12-14t21:59:43.10-05:00", "=", "<<", "[]", "{}", "[a]", "[[[]]]", "{x: 1}", "{1: 2}", "&a x", "*a", "&a [*a]",
    "!!python/object/apply:os.system ['true']", "!!python/name:os.system ''", "!!int ''", "!!float x", "!!bool maybe",
    "!!binary aGk=", "!!set {a}", "!!omap [a: 1]", "!custom x", "!<tag:yaml.org,2002:str> x", "! x", "? x", "|\n  text",
    ">-\n  text", "'a\\nb'", '"\\x01"', '"\\u2028"', "\t", "a\tb", "x" * 300, "reference_impls.rbm:torch.os.system",
    "reference_impls.rbm:torch", "os:system", "reference_impls.vae:VAE", "softmax", "softmax_sums_to_one", "cpu", "cuda",
    "float64", "bfloat16", "forward", "train_step",
]
TOKENS = SCALARS + [
    "suite: ", "title: ", "subject: ", "factory: ", "params: ", "defaults: ", "seed: ", "properties:", "benchmarks:",
    "check: ", "with: ", "tolerance: ", "atol: ", "why: ", "xfail: ", "call: ", "batch_sizes: ", "inputs: ", "shape: ",
    "\n", "\n", "\n  ", "\n    ", "  ", "- ", ": ", ":", "[", "]", "{", "}", ", ", ",", "&a ", "*a", "&b ", "*b",
    "<<: ", "? ", "\t", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\ufeff", "\r", "\r\n", "#", " # c",
    "'", '"', "|", ">", "---\n", "...\n", "%YAML 1.1\n", "%YAML 1.3\n", "%TAG !! tag:yaml.org,2002:python/\n",
    "%TAG !e! tag:example.com:\n", "!e!x ", "\\", "%", "@", "`", "é", "😀", "\u0300",
]

leaves = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62) | st.floats()
          | st.text(max_size=12) | st.sampled_from(SCALARS))
values = st.recursive(leaves, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                      max_leaves=16)


def maybe(strategy: st.SearchStrategy, p_valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a plausible value, sometimes anything."""
    return st.one_of(p_valid, p_valid, strategy)


FACTORIES = st.sampled_from(["reference_impls.activations", "reference_impls.losses", "reference_impls.vae:VAE",
                             "reference_impls.rbm:RBM", "reference_impls.rbm:torch", "reference_impls.rbm:torch.os.system",
                             "reference_impls:rbm.torch", "os:system", "reference_impls.rbm:__builtins__",
                             "reference_impls.nonexistent:X", "reference_impls.activations:softmax"])
DEVICES = st.lists(st.sampled_from(["cpu", "cuda", "tpu"]), max_size=3)
DTYPES = st.lists(st.sampled_from(["float64", "float32", "bfloat16", "float65"]), max_size=3)
properties = st.fixed_dictionaries(
    {"check": maybe(values, st.sampled_from(CHECKS))},
    optional={"id": maybe(values, st.from_regex(r"[a-z_]{1,8}", fullmatch=True)),
              "with": maybe(values, st.dictionaries(st.sampled_from(["rows", "classes", "scale", "samples", "x"]),
                                                    leaves, max_size=3)),
              "params": values, "devices": maybe(values, DEVICES), "dtypes": maybe(values, DTYPES),
              "tolerance": maybe(values, st.fixed_dictionaries({"why": leaves}, optional={
                  "float64": st.fixed_dictionaries({}, optional={"atol": leaves, "rtol": leaves}),
                  "float32": values})),
              "marks": maybe(values, st.lists(st.sampled_from(["slow", "statistical", "training", "fast"]), max_size=2)),
              "xfail": maybe(values, st.fixed_dictionaries({"reason": leaves, "devices": DEVICES, "dtypes": DTYPES})),
              "bogus": values})
benchmarks = st.fixed_dictionaries(
    {"workload": maybe(values, st.sampled_from(["forward", "train_step", "backward"])),
     "batch_sizes": maybe(values, st.lists(st.integers(-2, 2**40), max_size=3)),
     "inputs": maybe(values, st.lists(st.fixed_dictionaries(
         {"shape": maybe(values, st.lists(st.integers(-1, 2**33), max_size=3))},
         optional={"kind": maybe(values, st.sampled_from(["normal", "uniform", "bernoulli", "integers", "x"])),
                   "high": leaves}), max_size=2))},
    optional={"id": maybe(values, st.from_regex(r"[a-z_]{1,8}", fullmatch=True)),
              "call": maybe(values, st.sampled_from(["softmax", "mse", "sofmax", "torch", "__init__", "os.system"])),
              "params": values, "builtin": maybe(values, st.sampled_from(["linear_stack", "conv2d", "nope"])),
              "builtin_params": values, "devices": maybe(values, DEVICES), "dtypes": maybe(values, DTYPES)})
suites = st.fixed_dictionaries(
    {"suite": maybe(values, st.from_regex(r"[a-z_]{1,8}", fullmatch=True)), "title": maybe(values, st.text(max_size=8)),
     "subject": maybe(values, st.fixed_dictionaries({"factory": maybe(values, FACTORIES)},
                                                     optional={"params": values})),
     "properties": maybe(values, st.lists(properties, max_size=3))},
    optional={"defaults": maybe(values, st.fixed_dictionaries({}, optional={
        "devices": maybe(values, DEVICES), "dtypes": maybe(values, DTYPES), "seed": leaves})),
        "benchmarks": maybe(values, st.lists(benchmarks, max_size=2)), "references": values})


def dump(data: object, flow: bool | None, unicode: bool) -> bytes:
    return yaml.safe_dump(data, default_flow_style=flow, allow_unicode=unicode, sort_keys=False).encode("utf-8")


def scalar_text(v: object) -> str:
    """``v`` as a one-line YAML flow value."""
    text = yaml.safe_dump(v, default_flow_style=True, width=10**9)
    return text.removesuffix("\n").removesuffix("\n...").replace("\n", " ")


# -- (a) random YAML-ish input -----------------------------------------------------------------
@budget(0.10)
@given(text=st.text(max_size=300), prefix=st.sampled_from(["", "suite: x\n", GOOD]))
def test_random_text(fuzz_dir, text, prefix):
    assert_total(fuzz_dir, (prefix + text).encode("utf-8"))


@budget(0.07)
@given(data=st.binary(max_size=300), prefix=st.sampled_from([b"", b"\xef\xbb\xbf", GOOD.encode()]))
def test_random_bytes(fuzz_dir, data, prefix):
    assert_total(fuzz_dir, prefix + data)


@budget(0.08)
@given(data=values, flow=st.sampled_from([None, True, False]), unicode=st.booleans())
def test_random_structures(fuzz_dir, data, flow, unicode):
    assert_total(fuzz_dir, dump(data, flow, unicode))


@budget(0.20)
@given(data=suites, flow=st.sampled_from([None, True, False]), unicode=st.booleans())
def test_random_suite_shaped_structures(fuzz_dir, data, flow, unicode):
    assert_total(fuzz_dir, dump(data, flow, unicode))


@budget(0.15)
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=60), prefix=st.sampled_from(["", GOOD, GOOD + "    "]))
def test_token_soup(fuzz_dir, tokens, prefix):
    assert_total(fuzz_dir, (prefix + "".join(tokens)).encode("utf-8"))


@budget(0.05)
@given(depth=st.integers(0, 3000), opener=st.sampled_from(["[", "{a: ", "- ", "[{a: "]), block=st.booleans())
def test_deep_nesting(fuzz_dir, depth, opener, block):
    if block:  # indentation-nested mappings (bounded: the text grows with depth squared)
        depth = min(depth, 120)
        text = "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "x: 1\n"
    elif opener == "- ":
        text = "- " * depth + "x\n"
    else:
        closer = {"[": "]", "{a: ": "}", "[{a: ": "}]"}[opener]
        text = "suite: x\nsubject:\n  params: " + opener * depth + "1" + closer * depth + "\n"
    assert_total(fuzz_dir, text.encode())


# -- (b) random edits of the shipped suites ----------------------------------------------------
VALUE = re.compile(rb"(?<=: )[^\s{}\[\],#][^,{}\[\]\n#]*|(?<=[\[,] )[^\s{}\[\],#][^,{}\[\]\n#]*|(?<=\[)[^\s{}\[\],#][^,{}\[\]\n#]*")
OPS = ["delete", "duplicate", "swap", "replace_scalar", "replace_scalar", "insert_bytes", "truncate", "indent", "insert_token"]


@st.composite
def edited_suite(draw: st.DrawFn) -> bytes:
    lines = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))].splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(OPS))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "replace_scalar":
            spots = [m.span() for m in VALUE.finditer(lines[i])] or [(len(lines[i].rstrip(b"\n")),) * 2]
            a, b = draw(st.sampled_from(spots))
            new = draw(st.one_of(st.sampled_from(SCALARS), leaves.map(scalar_text), values.map(scalar_text)))
            lines[i] = lines[i][:a] + new.encode("utf-8") + lines[i][b:]
        elif op == "insert_bytes":
            k = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:k] + draw(st.binary(min_size=1, max_size=6)) + lines[i][k:]
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
            del lines[i + 1:]
        elif op == "indent":
            lines[i] = draw(st.sampled_from([b" ", b"  ", b"\t", b"- "])) + lines[i]
        else:
            k = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:k] + draw(st.sampled_from(TOKENS)).encode("utf-8") + lines[i][k:]
    return b"".join(lines)


@budget(0.35)
@given(data=edited_suite())
def test_edited_shipped_suites(fuzz_dir, data):
    assert_total(fuzz_dir, data)


def test_shipped_suites_load(fuzz_dir):
    """The unedited shipped suites all load (so the edits above start from valid suites)."""
    for name, data in SHIPPED.items():
        assert assert_total(fuzz_dir, data) is not None, name
