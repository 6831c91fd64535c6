"""Throughput of the suites' ``benchmarks:`` workloads on every device here.

One workload = one suite benchmark on one device, dtype and batch size:

- ``forward``: ``model(*inputs)`` in eval mode under ``torch.no_grad()``;
- ``train_step``: forward in train mode, loss = Σ mean(t²) over every floating tensor of the
  output (nested tuples, lists, dicts), backward, one SGD step. A subject with no parameters
  (a module of functions, or a parameter-free model) differentiates w.r.t. its float inputs.

The model is ``suite.subject.build(case, **benchmark.params)`` for a class subject and
``suite.subject.fn(benchmark.call)`` for a module of functions. Inputs follow the benchmark's
``inputs:`` (batch dimension prepended; ``normal``/``uniform``/``bernoulli`` in the row's dtype,
``integers`` in ``[0, high)`` as int64), drawn from a CPU generator seeded from the suite, so
every device sees the same data.

Timing is torch.utils.benchmark's ``Timer.blocked_autorange`` (warm-up and block sizing
included; on CUDA its timer synchronises the device) with the thread count passed explicitly
and recorded; the row keeps the median and IQR over blocks. FLOPs per step come from
``torch.utils.flop_counter.FlopCounterMode``, which counts matmul, convolution and attention
kernels only: a lower bound, labelled so. The peak is a large matmul in the same dtype on the
same device, timed with the same Timer in the same run; a torch built-in comparator
(:data:`BUILTINS`) named by the benchmark is timed on the same inputs right after ours.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over the measured calls; on the CPU it
is left ``None`` (tracemalloc does not see torch's allocator and ``ru_maxrss`` is a process-wide
high-water mark that says nothing about one workload).

A CUDA out-of-memory error or a dtype the device does not support becomes that row's
``status`` (``oom`` / ``unsupported dtype``), any other exception ``error: <message>``, and the
run goes on.

Dtype policy: CUDA runs every dtype the benchmark lists; the CPU runs float32/float64 and runs
bfloat16/float16 only for benchmarks whose ``devices`` leave out ``cuda`` (a suite asking for
low precision on the CPU explicitly).
"""
from __future__ import annotations

import gc
import types
import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from harness.builtins import BUILTINS
from harness.cases import BenchCase
from harness.context import DTYPES, Case

FLOPS_LABEL = "model FLOPs (lower bound)"
MIN_RUN_TIME = 0.5          # seconds per measurement in a full run
QUICK_MIN_RUN_TIME = 0.05   # --quick
MIN_RUNS = 5                # fewer timed blocks than this: re-measure adaptively (see time_step)
PEAK_N = {"cpu": 1024, "cuda": 8192}  # square matmul size for the measured peak
PEAK_N_SLOW = {("cpu", "float16"): 256}  # CPU half matmul has no fast kernel: ~2 s at n = 1024
PEAK_MEMORY_NOTE = ("peak memory: torch.cuda.max_memory_allocated on CUDA; not measured on the CPU "
                    "(tracemalloc does not see torch's allocator; ru_maxrss is a process-wide high-water mark)")

# --------------------------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------------------------
class UnsupportedDtype(Exception):
    """The device cannot run this dtype (recorded as ``unsupported dtype``)."""


_UNSUPPORTED = re.compile(r"not implemented for '(Half|BFloat16|Float8\w*|ComplexHalf)'|"
                          r"(does not|doesn't) support (bfloat16|half|float16)|"
                          r"Got unsupported ScalarType (BFloat16|Half)|unsupported dtype|"
                          r"expected scalar type \w+ but found (BFloat16|Half)", re.IGNORECASE)


def classify(exc: BaseException, device: str = "cpu") -> str:
    """Row status for an exception: ``oom``, ``unsupported dtype`` or ``error: <message>``."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, torch.cuda.OutOfMemoryError) or (
            isinstance(exc, RuntimeError) and ("out of memory" in msg.lower() or "can't allocate memory" in msg)):
        return "oom"
    if isinstance(exc, UnsupportedDtype) or (isinstance(exc, (RuntimeError, TypeError, NotImplementedError))
                                             and _UNSUPPORTED.search(str(exc))):
        return "unsupported dtype"
    return f"error: {type(exc).__name__}: {msg[:300]}"


def dtype_supported(device: str, dtype: str) -> tuple[bool, str]:
    """Whether ``device`` can run ``dtype`` at all (bfloat16 needs compute capability 8.0 on CUDA)."""
    if device == "cuda" and dtype == "bfloat16" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        return False, f"bfloat16 is not supported by {torch.cuda.get_device_name(0)}"
    return True, ""


def make_inputs(specs: Iterable[Any], batch: int, device: str, dtype: torch.dtype, seed: int) -> list[torch.Tensor]:
    """One tensor per input spec, ``(batch, *shape)``, drawn on the CPU and moved."""
    g = torch.Generator("cpu").manual_seed(seed)
    out = []
    for s in specs:
        shape = (batch, *s.shape)
        if s.kind == "integers":
            t = torch.randint(0, int(s.high), shape, generator=g)
        elif s.kind == "uniform":
            t = torch.rand(shape, generator=g, dtype=torch.float32).to(dtype)
        elif s.kind == "bernoulli":
            t = torch.bernoulli(torch.full(shape, 0.5), generator=g).to(dtype)
        else:
            t = torch.randn(shape, generator=g, dtype=torch.float32).to(dtype)
        out.append(t.to(device))
    return out


def _float_tensors(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out] if out.is_floating_point() or out.is_complex() else []
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _float_tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _float_tensors(v)]
    if hasattr(out, "__dataclass_fields__"):
        return [t for k in out.__dataclass_fields__ for t in _float_tensors(getattr(out, k))]
    return []


def loss_of(out: Any) -> torch.Tensor:
    """Σ mean(t²) over every floating tensor in ``out`` that carries a gradient."""
    ts = [t for t in _float_tensors(out) if t.requires_grad]
    if not ts:
        raise ValueError("the output has no floating tensor with a gradient to train on")
    return sum(t.float().pow(2).mean() if not t.is_complex() else t.abs().pow(2).mean() for t in ts)


@dataclass
class Workload:
    """A ready-to-time step: ``step()`` runs one forward or one training step."""

    step: Callable[[], Any]
    model: Any
    inputs: list[torch.Tensor]
    device: str


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def build_workload(target: Any, inputs: list[torch.Tensor], workload: str, device: str, lr: float = 1e-4) -> Workload:
    """``target`` is an ``nn.Module`` (or any callable); ``inputs`` already on the device."""
    params = [p for p in target.parameters() if p.requires_grad] if isinstance(target, nn.Module) else []
    if workload == "forward":
        if isinstance(target, nn.Module):
            target.eval()

        def step() -> Any:
            with torch.no_grad():
                return target(*inputs)
        return Workload(step, target, inputs, device)
    if workload != "train_step":
        raise ValueError(f"unknown workload {workload!r}")
    if isinstance(target, nn.Module):
        target.train()
    if params:
        opt = torch.optim.SGD(params, lr=lr)

        def step() -> Any:
            opt.zero_grad(set_to_none=True)
            loss = loss_of(target(*inputs))
            loss.backward()
            opt.step()
            return loss
        return Workload(step, target, inputs, device)
    leaves = [t.requires_grad_(True) for t in inputs if t.is_floating_point()]
    if not leaves:
        raise ValueError("train_step: no parameters and no float inputs to differentiate")

    def step() -> Any:
        for t in leaves:
            t.grad = None
        loss = loss_of(target(*inputs))
        loss.backward()
        return loss
    return Workload(step, target, inputs, device)


def subject_target(case: BenchCase) -> Any:
    """The model (class subject, built with the benchmark's ``params``) or function to time."""
    subject, bench = case.subject, case.bench
    if bench.call:
        return subject.fn(bench.call)
    if isinstance(subject.obj, types.ModuleType):
        raise ValueError(f"subject {subject.target} is a module of functions: the benchmark needs `call:`")
    c = Case(case.suite.name, f"bench/{bench.id}", case.device, DTYPES[case.dtype], case.seed)
    return subject.build(c, **dict(bench.params))


def prepare(case: BenchCase, target: Any = None) -> Workload:
    """The case's workload: inputs from the spec, the subject (or ``target``) built, ready to
    time. ``harness bench``, the pytest-benchmark items and asv all call this, so a benchmark
    means the same step in each. Raises :class:`UnsupportedDtype` where the device cannot run
    the dtype."""
    ok, why = dtype_supported(case.device, case.dtype)
    if not ok:
        raise UnsupportedDtype(why)
    inputs = make_inputs(case.bench.inputs, case.batch, case.device, DTYPES[case.dtype], case.seed)
    model = target if target is not None else subject_target(case)
    return build_workload(model, inputs, case.bench.workload, case.device)


def builtin_target(case: BenchCase) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(case.seed)
        m = BUILTINS[case.bench.builtin](**dict(case.bench.builtin_params))
    return m.to(device=case.device, dtype=DTYPES[case.dtype])


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------
def threads() -> int:
    return torch.get_num_threads()


def time_step(step: Callable[[], Any], min_run_time: float, label: str = "", num_threads: int | None = None):
    """``torch.utils.benchmark.Measurement`` of ``step()``.

    ``blocked_autorange`` first (its block-size search doubles as the warm-up). On a loaded
    machine one stalled call during that search can leave it with a block of one call and a
    single measurement; with fewer than :data:`MIN_RUNS` blocks the step is re-measured with
    ``adaptive_autorange`` (at least four blocks, until IQR/median < 5% or 5 × ``min_run_time``).
    """
    from torch.utils.benchmark import Timer

    t = Timer(stmt="step()", globals={"step": step}, num_threads=num_threads or threads(), label=label)
    m = t.blocked_autorange(min_run_time=min_run_time)
    if len(m.times) < MIN_RUNS:
        m = t.adaptive_autorange(threshold=0.05, min_run_time=min_run_time, max_run_time=5 * min_run_time)
    return m


def count_flops(step: Callable[[], Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        step()
    return int(fc.get_total_flops())


def matmul_peak(device: str, dtype: str, min_run_time: float, n: int | None = None) -> dict[str, Any]:
    """Measured FLOP/s of an n×n matmul (2n³ FLOPs) on ``device`` in ``dtype``."""
    n = n or PEAK_N_SLOW.get((device, dtype)) or PEAK_N.get(device, 1024)
    row: dict[str, Any] = {"device": device, "dtype": dtype, "n": n, "threads": threads()}
    try:
        ok, why = dtype_supported(device, dtype)
        if not ok:
            raise UnsupportedDtype(why)
        g = torch.Generator("cpu").manual_seed(0)
        a = torch.randn(n, n, generator=g).to(device=device, dtype=DTYPES[dtype])
        b = torch.randn(n, n, generator=g).to(device=device, dtype=DTYPES[dtype])
        m = time_step(lambda: a @ b, min_run_time, label=f"matmul {n}")
        row.update(median_s=m.median, iqr_s=m.iqr, flops_per_s=2 * n**3 / m.median, status="ok")
    except Exception as e:  # noqa: BLE001 - recorded
        row.update(median_s=None, iqr_s=None, flops_per_s=None, status=classify(e, device))
    _free(device, failed=row["status"] != "ok")
    return row


def _free(device: str, failed: bool = False) -> None:
    """Release memory between rows. Tensors die with the frames that held them (reference
    counting); a full ``gc.collect()`` (~0.4 s with torch loaded) runs only after a failure,
    whose traceback may sit in a reference cycle, and CUDA's cache is handed back."""
    if failed:
        gc.collect()
    if device == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _measure(w: Workload, min_run_time: float, label: str, flops: bool = True) -> dict[str, Any]:
    device = w.device
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    w.step()  # first call: fails fast (dtype, shapes, OOM) before timing
    _sync(device)
    n_flops = count_flops(w.step) if flops else None
    _sync(device)
    m = time_step(w.step, min_run_time, label=label)
    out = {"median_s": m.median, "iqr_s": m.iqr, "runs": len(m.times), "number_per_run": m.number_per_run,
           "flops_per_step": n_flops,
           "peak_mem_bytes": torch.cuda.max_memory_allocated() if device == "cuda" else None}
    return out


@dataclass
class BenchRow:
    """One measured (or skipped) benchmark row; ``status`` is ``ok``, ``skipped``, ``oom``,
    ``unsupported dtype`` or ``error: <message>``, with ``reason`` for a skip."""

    suite: str
    benchmark: str
    workload: str
    device: str
    dtype: str
    batch: int
    subject: str
    nodeid: str
    line: int
    status: str = "ok"
    reason: str = ""
    threads: int | None = None
    median_s: float | None = None
    iqr_s: float | None = None
    samples_per_s: float | None = None
    flops_per_step: int | None = None
    flops_label: str | None = None
    achieved_flops_per_s: float | None = None
    peak_flops_per_s: float | None = None
    fraction_of_peak: float | None = None
    peak_mem_bytes: int | None = None
    builtin: str | None = None
    builtin_median_s: float | None = None
    builtin_ratio: float | None = None
    builtin_status: str | None = None
    runs: int | None = None
    number_per_run: int | None = None
    min_run_time: float | None = None
    repeat: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def bench_row(case: BenchCase, **values: Any) -> BenchRow:
    """A row for ``case`` with its identity filled in (and ``values``)."""
    b = case.bench
    return BenchRow(case.suite.name, b.id, b.workload, case.device, case.dtype, case.batch, case.subject_label,
                    case.nodeid, b.line, builtin=b.builtin, **values)


def measure(case: BenchCase, *, min_run_time: float = MIN_RUN_TIME, peak: float | None = None,
            repeat: int = 0, target: Any = None) -> BenchRow:
    """One row: ours (and the built-in comparator, if any) for one benchmark case."""
    row = bench_row(case, threads=threads(), flops_label=FLOPS_LABEL, min_run_time=min_run_time, repeat=repeat,
                    peak_flops_per_s=peak)
    label = f"{case.suite.name}/{case.bench.id}"

    def ours() -> dict[str, Any]:
        # everything the step holds lives in this frame, which dies with the call (or with the
        # exception's traceback, cleared at the end of the ``except`` below), so memory is
        # released before the next row even after an out-of-memory error
        return _measure(prepare(case, target), min_run_time, label)

    try:
        vars(row).update(ours())
        row.status = "ok"
    except Exception as e:  # noqa: BLE001 - recorded as the row's status, the run goes on
        row.status = classify(e, case.device)
    _free(case.device, failed=row.status != "ok")
    if row.status != "ok":
        return row
    med = row.median_s
    row.samples_per_s = case.batch / med if med else None
    if row.flops_per_step is not None and med:
        row.achieved_flops_per_s = row.flops_per_step / med
        if peak:
            row.fraction_of_peak = row.achieved_flops_per_s / peak
    if case.bench.builtin:
        def theirs() -> dict[str, Any]:
            return _measure(prepare(case, builtin_target(case)), min_run_time, label + " builtin", flops=False)

        try:
            bm = theirs()
            row.builtin_median_s = bm["median_s"]
            row.builtin_ratio = med / bm["median_s"] if bm["median_s"] else None
        except Exception as e:  # noqa: BLE001 - the comparator failing does not void our row
            row.builtin_status = classify(e, case.device)
        _free(case.device, failed=row.builtin_status is not None)
    return row


def summarise(rows: list[BenchRow]) -> str:
    """A short text table of rows (for the terminal)."""
    lines = []
    for r in rows:
        head = f"{r.suite}/{r.benchmark} {r.device} {r.dtype} b{r.batch}"
        if r.status != "ok":
            lines.append(f"{head}: {r.status}" + (f" ({r.reason})" if r.reason else ""))
            continue
        extra = f"  x{r.builtin_ratio:.2f} vs {r.builtin}" if r.builtin_ratio else ""
        frac = f"  {100 * r.fraction_of_peak:.1f}% of peak" if r.fraction_of_peak else ""
        lines.append(f"{head}: {_fmt_s(r.median_s)} ±{_fmt_s(r.iqr_s)} IQR, {r.samples_per_s:.4g} samples/s{frac}{extra}")
    return "\n".join(lines)


def _fmt_s(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "n/a"
    for unit, f in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"
