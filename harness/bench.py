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
and recorded. One sample = the seconds per call of one timed block; the row keeps the median,
the IQR, the spread (IQR / median) and the samples themselves (``samples_s``, see
:func:`compact_samples`), and the 1-minute load average just before and after it.

Stability: a row whose spread is above :data:`SPREAD_THRESHOLD` (or that has fewer than
:data:`MIN_RUNS` samples) is measured again, up to :data:`MAX_REMEASURE` more times and
:data:`REMEASURE_CAP` × ``min_run_time`` seconds, the samples pooled; still above the threshold
(or still short of samples) after that, it is ``unstable`` (kept, flagged, never dropped).

Ours vs built-in: a torch built-in comparator (:data:`BUILTINS`) named by the benchmark is
timed on the same inputs *interleaved* with ours (:func:`time_pair`): :data:`ABAB_ROUNDS`
rounds of one turn each, in the order AB BA AB ..., so load that comes and goes hits both. The
ratio is median(ours) / median(built-in) over the pooled samples; its 95% interval
(:func:`ratio_ci`) is a Student-t interval on the log scale from the per-round log ratios.

FLOPs per step come from ``torch.utils.flop_counter.FlopCounterMode``, which counts matmul,
convolution and attention kernels only: a lower bound, labelled so. The peak is a large matmul
in the same dtype on the same device (:func:`matmul_peak`: its fastest block, as a peak is what
the device can do and load only slows it), measured again every :data:`PEAK_EVERY` rows of that
device and dtype and at the end of the run, the maximum kept. A row whose fraction of that
peak is still above 1 has ``peak_valid=False`` and no fraction (its achieved FLOP/s is kept).

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
import math
import os
import re
import time
import timeit
import types
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from harness.builtins import BUILTINS
from harness.cases import BenchCase
from harness.context import DTYPES, Case

FLOPS_LABEL = "model FLOPs (lower bound)"
MIN_RUN_TIME = 0.5          # seconds per measurement in a full run
QUICK_MIN_RUN_TIME = 0.05   # --quick
MIN_RUNS = 5                # fewer timed blocks than this: measure again (see time_step)
SPREAD_THRESHOLD = 0.10     # IQR / median above which a row is measured again, and `unstable` if it stays above
MAX_REMEASURE = 3           # at most this many extra measurements (ABAB: extra rounds) of a noisy row ...
REMEASURE_CAP = 8.0         # ... started within this many × min_run_time seconds of the first extra one
ABAB_ROUNDS = 6             # ours vs built-in: rounds of one turn each (AB BA AB ...)
ABAB_TURN = 1 / 3           # one turn lasts this × min_run_time (each side: ABAB_ROUNDS × this in all)
CI_LEVEL = 0.95             # builtin_ratio_ci
PEAK_EVERY = 4              # the matmul peak of a device/dtype is measured again before every 4th of its rows
SAMPLES_MAX = 64            # samples_s holds at most this many values (see compact_samples)
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


def load_average() -> float | None:
    """The 1-minute load average (``os.getloadavg()[0]``), or None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return None


def _sig4(x: float) -> float:
    return float(f"{x:.4g}")


def compact_samples(times: list[float]) -> list[float]:
    """``samples_s``: the samples rounded to 4 significant digits, in the order taken; more
    than :data:`SAMPLES_MAX` of them are summarised by their 61 quantiles at i/60 (i = 0..60),
    sorted, so the minimum, maximum, median and quartiles (numpy's linear interpolation) of the
    stored values are those of all the samples."""
    if len(times) > SAMPLES_MAX:
        times = np.quantile(np.asarray(times, dtype=np.float64), np.arange(61) / 60).tolist()
    return [_sig4(t) for t in times]


@dataclass
class Timing:
    """Seconds per call of one step: one sample per timed block, pooled over measurements."""

    times: list[float]
    number_per_run: int
    threshold: float = SPREAD_THRESHOLD
    remeasured: int = 0

    @property
    def median(self) -> float:
        return float(np.quantile(self.times, 0.5))

    @property
    def iqr(self) -> float:
        return float(np.quantile(self.times, 0.75) - np.quantile(self.times, 0.25))

    @property
    def spread(self) -> float | None:
        """IQR / median."""
        med = self.median
        return self.iqr / med if med > 0 else None

    @property
    def unstable(self) -> bool:
        """Not (yet) shown stable: the spread is above the threshold, or there are fewer than
        :data:`MIN_RUNS` samples to judge it by (a slow step whose budget ran out)."""
        s = self.spread
        return len(self.times) < MIN_RUNS or (s is not None and s > self.threshold)

    def fields(self) -> dict[str, Any]:
        """The row's timing fields."""
        return {"median_s": self.median, "iqr_s": self.iqr, "spread": self.spread, "runs": len(self.times),
                "number_per_run": self.number_per_run, "samples_s": compact_samples(self.times),
                "remeasured": self.remeasured, "unstable": self.unstable}


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def _clock(device: str) -> Callable[[], float]:
    """The clock every timing reads: ``time.perf_counter``, after ``torch.cuda.synchronize()``
    for a CUDA row (as torch's Timer does by default where CUDA is available)."""
    if device == "cuda" and torch.cuda.is_available():
        def synced() -> float:
            torch.cuda.synchronize()
            return time.perf_counter()
        return synced
    return time.perf_counter


def _settings(threshold: float | None, max_extra: int | None) -> tuple[float, int]:
    return (SPREAD_THRESHOLD if threshold is None else threshold), (MAX_REMEASURE if max_extra is None else max_extra)


def _again(timing: Timing, max_extra: int, started: float | None, min_run_time: float) -> bool:
    """Whether a noisy timing gets one more measurement: fewer than ``max_extra`` so far, and
    the budget (:data:`REMEASURE_CAP` × ``min_run_time`` from the first extra one) not spent."""
    if not timing.unstable or timing.remeasured >= max_extra:
        return False
    return started is None or time.perf_counter() - started < REMEASURE_CAP * min_run_time


def time_step(step: Callable[[], Any], min_run_time: float, label: str = "", num_threads: int | None = None, *,
              device: str = "cpu", threshold: float | None = None, max_extra: int | None = None) -> Timing:
    """The :class:`Timing` of ``step()``: ``Timer.blocked_autorange`` (its block-size search
    doubles as the warm-up), then, while the samples are fewer than :data:`MIN_RUNS` or their
    spread is above ``threshold`` (:data:`SPREAD_THRESHOLD`), another ``blocked_autorange`` with
    its samples pooled, at most ``max_extra`` (:data:`MAX_REMEASURE`) times and within
    :data:`REMEASURE_CAP` × ``min_run_time`` seconds. On a loaded machine one stalled call during
    the block-size search can leave a single huge block; the next measurement searches afresh."""
    from torch.utils.benchmark import Timer

    threshold, max_extra = _settings(threshold, max_extra)
    t = Timer(stmt="step()", globals={"step": step}, timer=_clock(device), num_threads=num_threads or threads(),
              label=label)
    m = t.blocked_autorange(min_run_time=min_run_time)
    timing = Timing(list(m.times), m.number_per_run, threshold)
    started = None
    while _again(timing, max_extra, started, min_run_time):
        started = started or time.perf_counter()
        timing.times += t.blocked_autorange(min_run_time=min_run_time).times
        timing.remeasured += 1
    return timing


class TheirsFailed(Exception):
    """The built-in comparator raised during the interleaved timing (``__cause__`` says what)."""


def _turns(step: Callable[[], Any], number: int, device: str, num_threads: int) -> Callable[[float], list[float]]:
    """``turn(seconds)``: blocks of ``number`` calls of ``step`` (at least one) until ``seconds``
    are spent, as seconds per call. The same loop as torch's Timer (the standard library's
    ``timeit`` with the garbage collector off during a block, a CUDA-synchronising clock), with
    the block size it chose, so a turn needs no block-size search of its own."""
    timer = timeit.Timer(step, timer=_clock(device))

    def turn(seconds: float) -> list[float]:
        out: list[float] = []
        spent = 0.0
        with _torch_threads(num_threads):
            while not out or spent < seconds:
                s = max(timer.timeit(number), 1e-9)
                out.append(s / number)
                spent += s
        return out
    return turn


def time_pair(ours: Callable[[], Any], theirs: Callable[[], Any], min_run_time: float, *, device: str = "cpu",
              label: str = "", num_threads: int | None = None, rounds: int | None = None,
              threshold: float | None = None, max_extra: int | None = None) -> tuple[Timing, Timing, list[float]]:
    """Ours and the built-in timed in alternating turns: ``(ours, theirs, log_ratios)``.

    Round 1 is one ``Timer.blocked_autorange`` each (ours, then the built-in): it chooses each
    side's block size and warms it up, and its samples count. Every further round is one turn
    of each, of ``ABAB_TURN × min_run_time`` seconds, the order alternating (BA, AB, BA, ...) so a
    steady drift in load favours neither side. While our samples stay noisy (see
    :func:`time_step`) up to ``max_extra`` more rounds are run. ``log_ratios`` holds
    log(median ours / median built-in) of each round: the paired differences that
    :func:`ratio_ci` turns into an interval. An exception in the built-in's step is raised as
    :class:`TheirsFailed`."""
    from torch.utils.benchmark import Timer

    threshold, max_extra = _settings(threshold, max_extra)
    rounds = ABAB_ROUNDS if rounds is None else rounds
    n = num_threads or threads()
    turn_s = ABAB_TURN * min_run_time

    def first(step: Callable[[], Any], what: str) -> Any:
        return Timer(stmt="step()", globals={"step": step}, timer=_clock(device), num_threads=n,
                     label=f"{label} {what}").blocked_autorange(min_run_time=turn_s)

    ma = first(ours, "ours")
    try:
        mb = first(theirs, "built-in")
    except Exception as e:  # noqa: BLE001 - re-raised, marked as the built-in's
        raise TheirsFailed(str(e)) from e
    a, b = Timing(list(ma.times), ma.number_per_run, threshold), Timing(list(mb.times), mb.number_per_run, threshold)
    logr = [math.log(float(np.median(ma.times)) / float(np.median(mb.times)))]
    turn_a, turn_b = _turns(ours, a.number_per_run, device, n), _turns(theirs, b.number_per_run, device, n)

    def their_turn() -> list[float]:
        try:
            return turn_b(turn_s)
        except Exception as e:  # noqa: BLE001 - re-raised, marked as the built-in's
            raise TheirsFailed(str(e)) from e

    def one_round(i: int) -> None:
        if i % 2:
            xb = their_turn()
            xa = turn_a(turn_s)
        else:
            xa = turn_a(turn_s)
            xb = their_turn()
        a.times += xa
        b.times += xb
        logr.append(math.log(float(np.median(xa)) / float(np.median(xb))))

    for i in range(1, rounds):
        one_round(i)
    started = None
    while _again(a, max_extra, started, min_run_time):
        started = started or time.perf_counter()
        one_round(rounds + a.remeasured)
        a.remeasured += 1
    return a, b, logr


# Student's t 0.975 quantiles for 1..30 degrees of freedom (scipy.stats.t.ppf), so that a run
# need not import scipy.stats (~1-2 s) for the usual 95% interval over a few rounds
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788,
         2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
         2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)


def _t_quantile(p: float, df: int) -> float:
    if math.isclose(p, 0.975) and df <= len(_T975):
        return _T975[df - 1]
    from scipy.stats import t as student_t

    return float(student_t.ppf(p, df))


def ratio_ci(ratio: float | None, log_ratios: list[float], level: float | None = None) -> list[float] | None:
    """The ``level`` (:data:`CI_LEVEL`) interval of ours / built-in: ``ratio`` × exp(± t · s / √k),
    s the standard deviation of the k per-round log ratios of :func:`time_pair` and t Student's
    quantile with k − 1 degrees of freedom. Why so: the two sides of a round run back to back,
    so the load they share cancels in their ratio and the rounds are close to independent
    replicates; on the log scale a ratio's noise is additive and the interval multiplicative
    (it never goes below 0); with only ~6 rounds Student's t is what keeps the coverage (a
    bootstrap over 6 pairs is known to give too narrow an interval). It is centred on the
    reported ratio (of the pooled medians), which it therefore contains. None with fewer than
    two rounds or no ratio."""
    level = CI_LEVEL if level is None else level
    k = len(log_ratios)
    if not ratio or k < 2:
        return None
    half = _t_quantile(0.5 + level / 2, k - 1) * float(np.std(log_ratios, ddof=1)) / math.sqrt(k)
    return [ratio * math.exp(-half), ratio * math.exp(half)]


def count_flops(step: Callable[[], Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        step()
    return int(fc.get_total_flops())


def matmul_peak(device: str, dtype: str, min_run_time: float, n: int | None = None) -> dict[str, Any]:
    """Measured FLOP/s of an n×n matmul (2n³ FLOPs) on ``device`` in ``dtype``: ``flops_per_s``
    from the fastest block (``best_s``; a peak is what the device can do, and load only slows
    it), ``median_flops_per_s`` from the median, and the load average when it was taken."""
    n = n or PEAK_N_SLOW.get((device, dtype)) or PEAK_N.get(device, 1024)
    row: dict[str, Any] = {"device": device, "dtype": dtype, "n": n, "threads": threads(), "load": load_average()}
    try:
        ok, why = dtype_supported(device, dtype)
        if not ok:
            raise UnsupportedDtype(why)
        g = torch.Generator("cpu").manual_seed(0)
        a = torch.randn(n, n, generator=g).to(device=device, dtype=DTYPES[dtype])
        b = torch.randn(n, n, generator=g).to(device=device, dtype=DTYPES[dtype])
        # more blocks only where there are too few; the spread of a peak's blocks does not matter
        m = time_step(lambda: a @ b, min_run_time, label=f"matmul {n}", device=device, threshold=math.inf)
        best = min(m.times)
        row.update(median_s=m.median, best_s=best, iqr_s=m.iqr, runs=len(m.times), flops_per_s=2 * n**3 / best,
                   median_flops_per_s=2 * n**3 / m.median, status="ok")
    except Exception as e:  # noqa: BLE001 - recorded
        row.update(median_s=None, best_s=None, iqr_s=None, flops_per_s=None, status=classify(e, device))
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


def _measure(case: BenchCase, target: Any, min_run_time: float, label: str) -> dict[str, Any]:
    """Ours (and the built-in, interleaved) for one case: the row's measured fields. Everything
    the steps hold lives in this frame, which dies with the call (or with the exception's
    traceback, cleared by the caller's ``except``), so memory is released before the next row
    even after an out-of-memory error."""
    w = prepare(case, target)
    device = w.device
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    w.step()  # first call: fails fast (dtype, shapes, OOM) before timing
    _sync(device)
    out: dict[str, Any] = {"flops_per_step": count_flops(w.step)}
    _sync(device)
    # ours alone so far: the built-in, built next, must not count in our peak memory
    out["peak_mem_bytes"] = torch.cuda.max_memory_allocated() if device == "cuda" else None
    theirs = None
    if case.bench.builtin:
        try:
            theirs = prepare(case, builtin_target(case))
            theirs.step()
            _sync(device)
        except Exception as e:  # noqa: BLE001 - the comparator failing does not void our row
            out["builtin_status"] = classify(e, device)
            theirs = None
            _free(device, failed=True)
    if theirs is not None:
        try:
            ours, their, logr = time_pair(w.step, theirs.step, min_run_time, device=device, label=label)
        except TheirsFailed as e:
            out["builtin_status"] = classify(e.__cause__ or e, device)
            theirs = None
            _free(device, failed=True)
        else:
            ratio = ours.median / their.median if their.median else None
            out.update(builtin_median_s=their.median, builtin_ratio=ratio, builtin_ratio_ci=ratio_ci(ratio, logr))
    if theirs is None:
        ours = time_step(w.step, min_run_time, label=label, device=device)
    out.update(ours.fields())
    return out


@dataclass
class BenchRow:
    """One measured (or skipped) benchmark row; ``status`` is ``ok``, ``skipped``, ``oom``,
    ``unsupported dtype`` or ``error: <message>``, with ``reason`` for a skip.

    Measurement quality (the shared record schema): ``spread`` = IQR / median; ``load_before`` /
    ``load_after`` the 1-minute load average around the row; ``unstable`` when the spread stayed
    above ``bench_info.spread_threshold`` (or the samples stayed fewer than
    ``bench_info.remeasure.min_runs``) after ``remeasured`` extra measurements; ``samples_s``
    the samples (:func:`compact_samples`); ``builtin_ratio_ci`` the 95% interval of
    ``builtin_ratio`` (:func:`ratio_ci`); ``peak_valid`` False when the achieved FLOP/s is above
    the run's measured peak (``fraction_of_peak`` is then None), None when there is no peak."""

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
    spread: float | None = None
    load_before: float | None = None
    load_after: float | None = None
    unstable: bool = False
    remeasured: int = 0
    samples_s: list[float] | None = None
    builtin_ratio_ci: list[float] | None = None
    peak_valid: bool | None = None

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


def apply_peak(row: BenchRow, peak: float | None) -> None:
    """Set the row's peak, fraction of it and ``peak_valid``: a fraction above 1 means the peak
    was measured too low (a busy machine), so it is not reported (``fraction_of_peak`` None,
    ``peak_valid`` False); the achieved FLOP/s stays."""
    row.peak_flops_per_s = peak
    row.fraction_of_peak = row.peak_valid = None
    if peak and row.achieved_flops_per_s is not None:
        fraction = row.achieved_flops_per_s / peak
        row.peak_valid = fraction <= 1.0
        row.fraction_of_peak = fraction if row.peak_valid else None


def measure(case: BenchCase, *, min_run_time: float = MIN_RUN_TIME, peak: float | None = None,
            repeat: int = 0, target: Any = None) -> BenchRow:
    """One row: ours (and the built-in comparator, if any, interleaved) for one benchmark case."""
    row = bench_row(case, threads=threads(), flops_label=FLOPS_LABEL, min_run_time=min_run_time, repeat=repeat)
    row.load_before = load_average()
    try:
        vars(row).update(_measure(case, target, min_run_time, f"{case.suite.name}/{case.bench.id}"))
        row.status = "ok"
    except Exception as e:  # noqa: BLE001 - recorded as the row's status, the run goes on
        row.status = classify(e, case.device)
    row.load_after = load_average()
    _free(case.device, failed=row.status != "ok")
    if row.status != "ok":
        return row
    med = row.median_s
    row.samples_per_s = case.batch / med if med else None
    if row.flops_per_step is not None and med:
        row.achieved_flops_per_s = row.flops_per_step / med
    apply_peak(row, peak)
    return row


def summarise(rows: list[BenchRow]) -> str:
    """A short text table of rows (for the terminal)."""
    lines = []
    for r in rows:
        head = f"{r.suite}/{r.benchmark} {r.device} {r.dtype} b{r.batch}"
        if r.status != "ok":
            lines.append(f"{head}: {r.status}" + (f" ({r.reason})" if r.reason else ""))
            continue
        spread = f"spread {100 * r.spread:.1f}%" if r.spread is not None else "spread n/a"
        if r.unstable:
            few = f", only {r.runs} samples" if r.runs is not None and r.runs < MIN_RUNS else ""
            spread += f"{few}, UNSTABLE after {r.remeasured} re-measurements"
        extra = ""
        if r.builtin_ratio:
            ci = f" [{r.builtin_ratio_ci[0]:.2f}, {r.builtin_ratio_ci[1]:.2f}]" if r.builtin_ratio_ci else ""
            extra = f"  x{r.builtin_ratio:.2f}{ci} vs {r.builtin}"
        elif r.builtin_status:
            extra = f"  {r.builtin}: {r.builtin_status}"
        frac = f"  {100 * r.fraction_of_peak:.1f}% of peak" if r.fraction_of_peak is not None else ""
        if r.peak_valid is False:
            frac = "  above the measured peak (peak invalid)"
        load = ""
        if r.load_before is not None and r.load_after is not None:
            load = f"  load {r.load_before:.2f}->{r.load_after:.2f}"
        lines.append(f"{head}: {_fmt_s(r.median_s)} ±{_fmt_s(r.iqr_s)} IQR ({spread}), {r.samples_per_s:.4g} samples/s"
                     f"{frac}{extra}{load}")
    return "\n".join(lines)


def _fmt_s(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "n/a"
    for unit, f in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"
