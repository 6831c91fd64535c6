"""Mutation testing of ``reference_impls``: does each module's suite notice a one-line bug?

Each mutant is one semantic change to one module of ``reference_impls`` (an operator, a constant, an
activation, a dropped √/exp/log, a ``.detach()`` on a returned tensor, ``sum``↔``mean``, a comparison
boundary, a dropped sign). It is judged by the suites whose subject lives in that module, exactly as
``pytest suites/`` would run them on CPU: a mutant is *killed* when a property that passes on the
unmutated module fails, errors or times out.

    python tools/mutate.py                         # every module, the committed sample, a summary
    python tools/mutate.py rbm vae -j 2            # some modules
    python tools/mutate.py --write docs/mutation.md   # regenerate the committed score table
    python tools/mutate.py --list rbm              # the sampled mutants, not run
    python tools/mutate.py rbm --only 1a2b3c4d5e   # one mutant again (ids from --list or the table)

Score per module = killed / (mutants − documented equivalents). Equivalent mutants are listed in
``tools/mutation_equivalents.txt`` (``<id>  <one line of reasoning>``). The detach reaches the tensors
inside returned containers (tuples, named tuples, lists, dicts, dataclasses). A surviving ``.detach()``
mutant is annotated when the detach never met a tensor that requires grad: the suites never pushed a
gradient through that value, which is a gap in the suites (no gradient-flow property), not proof of
equivalence, so it still counts as a survivor.

Why a sampler of our own rather than mutmut or cosmic-ray: both re-run a test command per mutant,
which here means a fresh interpreter importing torch (≈2 s) and loading the suites for every mutant,
and neither can say "only the suites whose subject is this module". This tool imports torch once and
forks a child per mutant (copy-on-write, ≈20 ms), which installs the mutated module under its own
name, loads that module's suites and runs their cases, the fastest first, stopping at the first kill.
The parent never runs a torch operation, so forking after importing torch is safe.

The sample is deterministic: every candidate has a stable id (a hash of module, enclosing function,
operator, original and replacement text, and occurrence), candidates are ordered by id within each
operator, and operators are taken round-robin, so each operator class is represented and an edit
elsewhere in a module does not reshuffle the rest of its sample. ``--all`` runs every candidate.

Not generated (stated so the score means what it says): constants in default arguments, annotations
and dataclass field defaults (the suites set their parameters explicitly; a default is a convenience
of the API, not of the model), numeric constants below 1e-3 in magnitude (stabilising epsilons: a
doubled 1e-8 changes nothing measurable) and anything inside ``raise``/``assert`` statements, docstrings
or decorators.
"""
from __future__ import annotations

import argparse
import ast
import copy
import datetime as _dt
import hashlib
import json
import os
import select
import signal
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.txt"
PACKAGE = "reference_impls"
DEFAULT_SAMPLE = 40
EPSILON = 1e-3

ACTIVATIONS = {"tanh": "sigmoid", "sigmoid": "tanh", "relu": "tanh", "softmax": "log_softmax",
               "log_softmax": "softmax", "softplus": "relu", "elu": "relu", "gelu": "relu",
               "leaky_relu": "relu", "Tanh": "Sigmoid", "Sigmoid": "Tanh", "ReLU": "Tanh",
               "LeakyReLU": "ReLU", "Softmax": "LogSoftmax", "LogSoftmax": "Softmax", "ELU": "ReLU",
               "GELU": "ReLU", "Softplus": "ReLU"}
DROPPABLE = {"sqrt", "exp", "log", "rsqrt", "log1p", "expm1"}
REDUCTIONS = {"sum": "mean", "mean": "sum"}
ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult}
COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
DETACH_HELPER = "_dlh_mutant_detach"
OPERATORS = ("arith", "constant", "activation", "drop_fn", "detach", "reduction", "compare", "sign")


# --------------------------------------------------------------------------------------------------
# candidates

@dataclass(frozen=True)
class Mutant:
    module: str      # "rbm"
    index: int       # position of the mutated node in the module's DFS order
    op: str          # one of OPERATORS
    variant: int     # which replacement of that node (a constant has two: +1 and -1)
    where: str       # enclosing qualified name
    line: int
    original: str
    replacement: str
    id: str = ""

    def describe(self) -> str:
        return f"{self.module}.py:{self.line} {self.where}: {self.original}  ->  {self.replacement}  [{self.op}]"


def _walk(tree: ast.AST):
    """Depth-first (node, parent, field, list index, enclosing qualname, flags) in a stable order."""
    out = []

    def visit(node, parent, fld, idx, where, skip, returned):
        out.append((node, parent, fld, idx, where, skip, returned))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            where = f"{where}.{node.name}" if where else node.name
        for name, value in ast.iter_fields(node):
            s = skip or isinstance(node, (ast.Raise, ast.Assert))
            if name in ("decorator_list", "annotation", "returns", "type_comment"):
                s = True
            if isinstance(node, ast.arguments) and name in ("defaults", "kw_defaults"):
                s = True
            if isinstance(node, ast.AnnAssign) and name == "value" and isinstance(parent, ast.ClassDef):
                s = True
            ret = isinstance(node, ast.Return) and name == "value"
            items = value if isinstance(value, list) else [value]
            for i, child in enumerate(items):
                if isinstance(child, ast.AST):
                    r = ret or (returned and isinstance(node, ast.Tuple))
                    visit(child, node, name, i if isinstance(value, list) else None, where, s, r)

    visit(tree, None, None, None, "", False, False)
    return out


def _call_name(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else None
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _replacements(node: ast.AST, returned: bool) -> list[tuple[str, ast.AST]]:
    """The (operator, new node) mutations of ``node``."""
    out: list[tuple[str, ast.AST]] = []
    if isinstance(node, ast.BinOp) and type(node.op) in ARITH:
        out.append(("arith", ast.BinOp(node.left, ARITH[type(node.op)](), node.right)))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) \
            and node.right.value == 0.5:
        out.append(("drop_fn", node.left))
    if isinstance(node, ast.Constant) and type(node.value) in (int, float) and not isinstance(node.value, bool):
        v = node.value
        if v == 0 or abs(v) >= EPSILON:
            if isinstance(v, int):
                out += [("constant", ast.Constant(v + 1)), ("constant", ast.Constant(v - 1))]
            else:
                out.append(("constant", ast.Constant(v * 2 if v else 1.0)))
    if isinstance(node, ast.Call):
        name = _call_name(node)
        f = node.func
        if name in ACTIVATIONS:
            new = copy.copy(node)
            new.func = ast.Attribute(f.value, ACTIVATIONS[name], ast.Load()) if isinstance(f, ast.Attribute) \
                else ast.Name(ACTIVATIONS[name], ast.Load())
            out.append(("activation", new))
        if name in DROPPABLE:
            if isinstance(f, ast.Attribute) and not node.args and not _is_module_ref(f.value):
                out.append(("drop_fn", f.value))           # x.exp() -> x
            elif len(node.args) == 1 and not node.keywords:
                out.append(("drop_fn", node.args[0]))      # torch.exp(x) -> x
        if name in REDUCTIONS and isinstance(f, ast.Attribute):
            new = copy.copy(node)
            new.func = ast.Attribute(f.value, REDUCTIONS[name], ast.Load())
            out.append(("reduction", new))
    if isinstance(node, ast.keyword) and node.arg == "reduction" and isinstance(node.value, ast.Constant) \
            and node.value.value in REDUCTIONS:
        out.append(("reduction", ast.keyword("reduction", ast.Constant(REDUCTIONS[node.value.value]))))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE:
        out.append(("compare", ast.Compare(node.left, [COMPARE[type(node.ops[0])]()], node.comparators)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
        out.append(("sign", node.operand))
    if returned and isinstance(node, ast.expr) and not isinstance(node, (ast.Tuple, ast.Constant, ast.Dict, ast.List)):
        out.append(("detach", ast.Call(ast.Name(DETACH_HELPER, ast.Load()), [node], [])))
    return out


def _is_module_ref(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("torch", "math", "np", "numpy", "F")


def candidates(module: str, source: str) -> list[Mutant]:
    tree = ast.parse(source)
    seen: dict[tuple, int] = {}
    out = []
    for index, (node, _parent, _fld, _i, where, skip, returned) in enumerate(_walk(tree)):
        if skip or isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant):
            continue
        for variant, (op, new) in enumerate(_replacements(node, returned)):
            orig = ast.get_source_segment(source, node) if hasattr(node, "lineno") else ast.unparse(node)
            orig = " ".join((orig or ast.unparse(node)).split())
            repl = " ".join(ast.unparse(new).split())
            key = (module, where, op, orig, repl)
            k = seen.get(key, 0)
            seen[key] = k + 1
            mid = hashlib.sha1("|".join(map(str, key + (k,))).encode()).hexdigest()[:10]
            out.append(Mutant(module, index, op, variant, where, getattr(node, "lineno", 0), orig, repl, mid))
    return out


def sample(cands: list[Mutant], n: int | None) -> list[Mutant]:
    """Round-robin over operators, each operator's candidates in id order; all when ``n`` is None."""
    if n is None or n >= len(cands):
        return sorted(cands, key=lambda m: (m.line, m.id))
    by_op = {op: sorted((m for m in cands if m.op == op), key=lambda m: m.id) for op in OPERATORS}
    picked: list[Mutant] = []
    while len(picked) < n:
        for op in OPERATORS:
            if by_op[op] and len(picked) < n:
                picked.append(by_op[op].pop(0))
    return sorted(picked, key=lambda m: (m.line, m.id))


def mutated_code(m: Mutant, source: str, path: str) -> types.CodeType:
    tree = ast.parse(source)
    node, parent, fld, idx, _where, _skip, returned = _walk(tree)[m.index]
    _op, new = _replacements(node, returned)[m.variant]
    new = ast.copy_location(new, node) if hasattr(node, "lineno") else new
    if idx is None:
        setattr(parent, fld, new)
    else:
        getattr(parent, fld)[idx] = new
    return compile(ast.fix_missing_locations(tree), path, "exec")


# --------------------------------------------------------------------------------------------------
# running

def _suites_by_module():
    from harness.suite import SuiteError, discover, load_suite

    out: dict[str, list[Path]] = {}
    for f in discover([ROOT / "suites"]):
        try:
            s = load_suite(f)
        except SuiteError as e:
            print(f"warning: {f} does not load, its module is judged without it: {str(e).splitlines()[0]}",
                  file=sys.stderr)
            continue
        ns = s.subject.namespace.__name__
        if ns.startswith(PACKAGE + "."):
            out.setdefault(ns.split(".", 1)[1], []).append(f)
    return out


class _DetachProbe:
    """The detach helper injected into a mutated module: detaches the returned tensors, also inside
    the containers a model returns (tuples, named tuples, lists, dicts, dataclasses such as an LSTM
    state), and records whether it ever cut a graph (a tensor that requires grad)."""

    effective = False

    def __call__(self, x):
        import dataclasses

        import torch

        if isinstance(x, torch.Tensor):
            if x.requires_grad:
                _DetachProbe.effective = True
            return x.detach()
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return type(x)(*(self(v) for v in x))
        if isinstance(x, (tuple, list)):
            return type(x)([self(v) for v in x])
        if isinstance(x, dict):
            return {k: self(v) for k, v in x.items()}
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return dataclasses.replace(x, **{f.name: self(getattr(x, f.name)) for f in dataclasses.fields(x) if f.init})
        return x


def _install(module: str, mutant: Mutant | None, source: str) -> None:
    """Replace ``reference_impls.<module>`` by ``source`` with ``mutant`` applied (in a forked child,
    so the parsing and compiling of every mutant happens in parallel)."""
    import importlib

    name = f"{PACKAGE}.{module}"
    original = importlib.import_module(name)
    if mutant is None:
        return
    code = mutated_code(mutant, source, original.__file__)
    mod = types.ModuleType(name, original.__doc__)
    mod.__file__, mod.__package__ = original.__file__, PACKAGE
    mod.__dict__[DETACH_HELPER] = _DetachProbe()
    sys.modules[name] = mod
    setattr(sys.modules[PACKAGE], module, mod)
    exec(code, mod.__dict__)


def _run_cases(suite_files, only: dict[str, float] | None, stop_at_first: bool) -> dict:
    """Load the suites (after the module is installed) and run their CPU cases."""
    from harness.cases import property_cases
    from harness.executor import run_property
    from harness.suite import load_suite

    cases = [c for f in suite_files for c in property_cases(load_suite(f)) if c.device == "cpu" and not c.skip]
    if only is not None:
        cases = sorted((c for c in cases if c.nodeid in only), key=lambda c: only[c.nodeid])
    times, failed = {}, []
    for c in cases:
        r = run_property(c)
        if r.status == "passed":
            times[c.nodeid] = r.seconds
        elif only is not None and r.status in ("failed", "error", "timeout", "xpassed"):
            failed.append(f"{c.suite.name}/{c.id}: {r.status}: {r.line[:160]}")
            if stop_at_first:
                break
    return {"passed": times, "failed": failed}


def _child(module: str, mutant: Mutant | None, source: str, suite_files, only, conn_fd: int) -> None:
    os.setpgid(0, 0)
    import torch

    torch.set_num_threads(1)
    try:
        _install(module, mutant, source)
        out = _run_cases(suite_files, only, stop_at_first=True)
    except BaseException as e:  # noqa: BLE001 - a mutant that breaks the import is killed by it
        out = {"passed": {}, "failed": [f"module or suite failed to load: {type(e).__name__}: {str(e)[:160]}"]}
    out["detach_cut_graph"] = _DetachProbe.effective
    with os.fdopen(conn_fd, "w") as w:
        w.write(json.dumps(out))
    os._exit(0)


@dataclass
class Job:
    key: str
    module: str
    mutant: Mutant | None  # None: the unmutated module (the baseline)
    source: str
    suite_files: list
    only: dict | None
    timeout: float
    pid: int = 0
    fd: int = 0
    start: float = 0.0
    buf: bytes = b""
    result: dict = field(default_factory=dict)


def run_jobs(jobs: list[Job], parallel: int, on_done) -> None:
    """Fork up to ``parallel`` children at a time; a child past its timeout is killed (a kill)."""
    pending, running = list(jobs), {}
    while pending or running:
        while pending and len(running) < parallel:
            j = pending.pop(0)
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                _child(j.module, j.mutant, j.source, j.suite_files, j.only, w)
            os.close(w)
            j.pid, j.fd, j.start = pid, r, time.monotonic()
            running[r] = j
        ready, _, _ = select.select(list(running), [], [], 0.5)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            j = running[fd]
            if chunk:
                j.buf += chunk
                continue
            os.close(fd)
            os.waitpid(j.pid, 0)
            del running[fd]
            try:
                j.result = json.loads(j.buf or b"null") or {"crash": True}
            except ValueError:
                j.result = {"crash": True}
            on_done(j)
        now = time.monotonic()
        for fd, j in list(running.items()):
            if now - j.start > j.timeout:
                try:
                    os.killpg(j.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(j.pid, 0)
                os.close(fd)
                del running[fd]
                j.result = {"timeout": True}
                on_done(j)


def verdict(result: dict, op: str) -> tuple[str, str]:
    if result.get("timeout"):
        return "killed", "timed out"
    if result.get("crash"):
        return "killed", "the process died (crash or os._exit)"
    if result.get("failed"):
        return "killed", result["failed"][0]
    if op == "detach" and not result.get("detach_cut_graph"):
        return "survived", "no suite pushed a gradient through this value"
    return "survived", ""


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    out = {}
    if path.exists():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                mid, _, why = line.partition(" ")
                if not why.strip():
                    raise SystemExit(f"{path}:{n}: an equivalent mutant needs one line of reasoning after its id")
                out[mid] = why.strip()
    return out


def modules(names: list[str]) -> list[str]:
    allm = sorted(p.stem for p in (ROOT / PACKAGE).glob("*.py") if p.stem != "__init__")
    bad = [n for n in names if n not in allm]
    if bad:
        raise SystemExit(f"unknown module(s) {', '.join(bad)}; modules: {', '.join(allm)}")
    return names or allm


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tools/mutate.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*", help="modules of reference_impls (default: all)")
    ap.add_argument("-n", "--sample", type=int, default=DEFAULT_SAMPLE, help="mutants per module (default %(default)s)")
    ap.add_argument("--all", action="store_true", help="every candidate, not a sample")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these mutant ids (of the selected modules' sample)")
    ap.add_argument("--list", action="store_true", help="list the sampled mutants and exit")
    ap.add_argument("--write", metavar="MD", help="write the score table (markdown) and a JSON record beside it")
    ap.add_argument("--survivors", action="store_true", help="print every surviving mutant")
    ap.add_argument("--record", metavar="JSON", help="where --write puts the JSON record of every mutant "
                    "(default results/mutation/<date>-<commit>.json)")
    ap.add_argument("--baseline", metavar="JSON", help="a previous record (--write's JSON): its score per module "
                    "becomes a column of the table")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    mods = modules(args.modules)
    equivalents = load_equivalents()
    picked = {}
    for m in mods:
        src = (ROOT / PACKAGE / f"{m}.py").read_text(encoding="utf-8")
        cands = candidates(m, src)
        muts = sample(cands, None if args.all else args.sample)
        picked[m] = (src, [mu for mu in muts if mu.id in args.only] if args.only else muts, len(cands))
    if args.list:
        for m in mods:
            for mu in picked[m][1]:
                print(mu.id, mu.describe())
        return 0

    __import__("torch")  # imported once, before forking: each child starts with it loaded
    from harness.registry import load_checks

    load_checks()
    suites = _suites_by_module()
    for m in mods:
        __import__(f"{PACKAGE}.{m}")
    t0 = time.monotonic()
    base = {}
    run_jobs([Job(m, m, None, "", suites.get(m, []), None, 1800) for m in mods], args.jobs,
             lambda j: base.__setitem__(j.module, j.result))
    broken = {m: r.get("failed") or ["no case passed"] for m, r in base.items() if not r.get("passed")}
    if broken:
        raise SystemExit("the unmutated modules must pass their suites first: "
                         + "; ".join(f"{m}: {why[0]}" for m, why in broken.items()))
    jobs = []
    for m in mods:
        src, muts, _ = picked[m]
        passed = base[m].get("passed", {})
        budget = 60 + 3 * sum(passed.values())
        for mu in muts:
            jobs.append(Job(mu.id, m, mu, src, suites.get(m, []), passed, budget))
    by_id = {mu.id: mu for m in mods for mu in picked[m][1]}
    results: dict[str, tuple[str, str]] = {}

    def done(j: Job) -> None:
        status, why = verdict(j.result, by_id[j.key].op)
        if status == "survived" and j.key in equivalents:
            status, why = "equivalent", equivalents[j.key]
        results[j.key] = (status, why)
        print(f"[{len(results)}/{len(jobs)}] {status:10s} {by_id[j.key].describe()}", file=sys.stderr, flush=True)

    run_jobs(jobs, args.jobs, done)
    elapsed = time.monotonic() - t0
    rows = table_rows(mods, picked, results, base)
    print(render_summary(rows))
    if args.survivors:
        for m in mods:
            for mu in picked[m][1]:
                if results[mu.id][0] == "survived":
                    print("SURVIVED", mu.id, mu.describe(), results[mu.id][1])
    if args.write:
        baseline = json.loads(Path(args.baseline).read_text(encoding="utf-8")) if args.baseline else None
        write(Path(args.write), rows, picked, results, args, elapsed, baseline)
    return 0 if all(r["score"] >= 0.9 for r in rows) else 1


def table_rows(mods, picked, results, base):
    rows = []
    for m in mods:
        muts = picked[m][1]
        st = [results[mu.id][0] for mu in muts]
        killed, eq, surv = (st.count(s) for s in ("killed", "equivalent", "survived"))
        denom = len(muts) - eq
        rows.append({"module": m, "candidates": picked[m][2], "mutants": len(muts),
                     "killed": killed, "equivalent": eq, "survived": surv,
                     "score": killed / denom if denom else 1.0, "cases": len(base[m].get("passed", {}))})
    return rows


def render_summary(rows) -> str:
    head = f"{'module':16s} {'cases':>5s} {'mutants':>7s} {'killed':>6s} {'equiv':>5s} {'surv':>4s}  score"
    lines = [head] + [f"{r['module']:16s} {r['cases']:5d} {r['mutants']:7d} {r['killed']:6d} {r['equivalent']:5d} "
                      f"{r['survived']:4d}  {r['score']:.0%}" for r in rows]
    k = sum(r["killed"] for r in rows)
    d = sum(r["mutants"] - r["equivalent"] for r in rows)
    lines.append(f"{'total':16s} {sum(r['cases'] for r in rows):5d} {sum(r['mutants'] for r in rows):7d} {k:6d} "
                 f"{sum(r['equivalent'] for r in rows):5d} {sum(r['survived'] for r in rows):4d}  {k / d if d else 1:.1%}")
    return "\n".join(lines)


def _commit() -> str:
    import subprocess

    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", PACKAGE, "suites", "harness"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip()
    return r.stdout.strip() + ("+changes" if dirty else "")


def write(path: Path, rows, picked, results, args, elapsed: float, baseline: dict | None = None) -> None:
    cmd = "python tools/mutate.py" + ("" if args.sample == DEFAULT_SAMPLE else f" -n {args.sample}") + \
        (" --all" if args.all else "") + (" " + " ".join(args.modules) if args.modules else "") + f" --write {path}" + \
        (f" --baseline {args.baseline}" if args.baseline else "")
    before = {r["module"]: r for r in (baseline or {}).get("rows", [])}
    record_commit = _commit()
    today = _dt.date.today().isoformat()
    k = sum(r["killed"] for r in rows)
    d = sum(r["mutants"] - r["equivalent"] for r in rows)
    lines = ["# Mutation score of `reference_impls`", "",
             f"Generated on {today} at commit {record_commit} by `{cmd}` ({elapsed / 60:.0f} min with -j {args.jobs} "
             f"on {os.cpu_count()} cores).",
             "See `tools/mutate.py` for the operators, the sampling and what is not mutated. A mutant is killed when "
             "a property of its module's suites that passes on the unmutated code fails, errors or times out.", "",
             f"Overall: {k} of {d} non-equivalent mutants killed ({k / d if d else 1:.1%}).", "",
             "| module | suite cases (CPU) | candidates | sampled | killed | equivalent | survived | score |"
             + (f" score before ({baseline['date']}: {baseline.get('commit', '')}) |" if baseline else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if baseline else "")]
    for r in rows:
        b = before.get(r["module"])
        lines.append(f"| {r['module']} | {r['cases']} | {r['candidates']} | {r['mutants']} | {r['killed']} | "
                     f"{r['equivalent']} | {r['survived']} | {r['score']:.0%} |"
                     + ((f" {b['score']:.0%} ({b['killed']}/{b['mutants'] - b['equivalent']}) |" if b else " - |")
                        if baseline else ""))
    for title, status in (("Surviving mutants", "survived"), ("Equivalent mutants (tools/mutation_equivalents.txt)", "equivalent")):
        items = [(mu, results[mu.id][1]) for m in picked for mu in picked[m][1] if results[mu.id][0] == status]
        lines += ["", f"## {title}", ""]
        lines += [f"- `{mu.id}` {mu.describe().replace('|', '/')}" + (f": {why}" if why else "")
                  for mu, why in items] or ["None."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = {"date": today, "commit": record_commit, "command": cmd, "rows": rows,
              "fields": ["module", "op", "line", "where", "original", "replacement", "status", "why (the first case that killed it)"],
              "mutants": {mu.id: [m, mu.op, mu.line, mu.where, mu.original[:120], mu.replacement[:120], results[mu.id][0],
                                  results[mu.id][1][:120]] for m in picked for mu in picked[m][1]}}
    out = Path(args.record) if args.record else ROOT / "results" / "mutation" / f"{today}-{record_commit.split('+')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, ensure_ascii=False, separators=(",", ":")).replace('"],"', '"],\n"') + "\n",
                   encoding="utf-8")
    print(f"score table -> {path}; record -> {out}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
