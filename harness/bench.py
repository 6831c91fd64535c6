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
import math
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

FLOPS_LABEL = "model FLOPs (lower bound)"
LOW_PRECISION = ("bfloat16", "float16")
MIN_RUN_TIME = 0.5          # seconds per measurement in a full run
QUICK_MIN_RUN_TIME = 0.05   # --quick
MIN_RUNS = 5                # fewer timed blocks than this: re-measure adaptively (see time_step)
PEAK_N = {"cpu": 1024, "cuda": 8192}  # square matmul size for the measured peak
PEAK_N_SLOW = {("cpu", "float16"): 256}  # CPU half matmul has no fast kernel: ~2 s at n = 1024
PEAK_MEMORY_NOTE = ("peak memory: torch.cuda.max_memory_allocated on CUDA; not measured on the CPU "
                    "(tracemalloc does not see torch's allocator; ru_maxrss is a process-wide high-water mark)")
ROW_FIELDS = ("suite", "benchmark", "workload", "device", "dtype", "batch", "threads", "median_s", "iqr_s",
              "samples_per_s", "flops_per_step", "flops_label", "achieved_flops_per_s", "peak_flops_per_s",
              "fraction_of_peak", "peak_mem_bytes", "builtin", "builtin_median_s", "builtin_ratio",
              "status", "builtin_status", "runs", "number_per_run", "min_run_time", "repeat", "line")


# --------------------------------------------------------------------------------------------
# torch built-in comparators: name -> factory(**builtin_params) -> nn.Module
# --------------------------------------------------------------------------------------------
_ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "identity": nn.Identity,
         "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "softplus": nn.Softplus}


def linear_stack(sizes: list[int] | None = None, *, in_features: int | None = None, hidden: list[int] | int = (),
                 out_features: int | None = None, activation: str = "relu", final_activation: bool = False,
                 bias: bool = True) -> nn.Module:
    """``nn.Sequential`` of ``nn.Linear`` + activation. Either ``sizes: [in, h1, ..., out]`` or
    ``in_features``, ``hidden`` (int or list) and ``out_features``."""
    if sizes is None:
        hid = [hidden] if isinstance(hidden, int) else list(hidden)
        if in_features is None or out_features is None:
            raise ValueError("linear_stack needs `sizes` or `in_features` and `out_features`")
        sizes = [in_features, *hid, out_features]
    if len(sizes) < 2:
        raise ValueError(f"linear_stack needs at least two sizes, got {sizes}")
    if activation not in _ACTS:
        raise ValueError(f"linear_stack activation {activation!r}; allowed: {', '.join(_ACTS)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(sizes) - 2 or final_activation:
            layers.append(_ACTS[activation]())
    return nn.Sequential(*layers)


def conv2d(**params: Any) -> nn.Module:
    """``nn.Conv2d(**params)`` (in_channels, out_channels, kernel_size, stride, padding, ...)."""
    return nn.Conv2d(**params)


def lstm(**params: Any) -> nn.Module:
    """``nn.LSTM(**params)`` with ``batch_first=True`` unless given: inputs (batch, time, features)."""
    return nn.LSTM(**{"batch_first": True, **params})


class _SDPA(nn.Module):
    """``F.scaled_dot_product_attention(q, k, v)``; one input means self-attention (q = k = v)."""

    def __init__(self, is_causal: bool = False, scale: float | None = None):
        super().__init__()
        self.is_causal, self.scale = is_causal, scale

    def forward(self, q: torch.Tensor, k: torch.Tensor | None = None, v: torch.Tensor | None = None) -> torch.Tensor:
        k = q if k is None else k
        v = k if v is None else v
        return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.is_causal, scale=self.scale)


def sdpa(**params: Any) -> nn.Module:
    """``F.scaled_dot_product_attention`` (params: is_causal, scale)."""
    return _SDPA(**params)


class _MHA(nn.Module):
    """``nn.MultiheadAttention``; one input means self-attention; returns the output only."""

    def __init__(self, **params: Any):
        super().__init__()
        self.mha = nn.MultiheadAttention(**{"batch_first": True, **params})

    def forward(self, q: torch.Tensor, k: torch.Tensor | None = None, v: torch.Tensor | None = None) -> torch.Tensor:
        k = q if k is None else k
        v = k if v is None else v
        return self.mha(q, k, v, need_weights=False)[0]


def multihead_attention(**params: Any) -> nn.Module:
    """``nn.MultiheadAttention(embed_dim, num_heads, batch_first=True, ...)``."""
    return _MHA(**params)


def transformer_encoder_layer(**params: Any) -> nn.Module:
    """``nn.TransformerEncoderLayer(d_model, nhead, batch_first=True, dropout=0.0, ...)``."""
    return nn.TransformerEncoderLayer(**{"batch_first": True, "dropout": 0.0, **params})


BUILTINS: dict[str, Callable[..., nn.Module]] = {
    "linear_stack": linear_stack,
    "conv2d": conv2d,
    "lstm": lstm,
    "sdpa": sdpa,
    "multihead_attention": multihead_attention,
    "transformer_encoder_layer": transformer_encoder_layer,
}


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


def devices_here(bench: Any) -> list[str]:
    from harness.context import device_available

    return [d for d in bench.devices if device_available(d)[0]]


def dtypes_for(bench: Any, device: str) -> list[str]:
    """The dtypes to run on ``device`` (see the module's dtype policy)."""
    if device == "cpu" and "cuda" in bench.devices:
        return [d for d in bench.dtypes if d not in LOW_PRECISION]
    return list(bench.dtypes)


def bench_seed(suite: Any, bench: Any) -> int:
    return (int(suite.seed) + zlib.crc32(f"{suite.name}/bench/{bench.id}".encode())) % (2**31)


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


def subject_target(suite: Any, bench: Any, device: str, dtype: str) -> Any:
    """The model (class subject, built with the benchmark's ``params``) or function to time."""
    from harness.context import DTYPES, Case

    subject = suite.subject
    if bench.call:
        return subject.fn(bench.call)
    import types

    if isinstance(subject.obj, types.ModuleType):
        raise ValueError(f"subject {subject.target} is a module of functions: the benchmark needs `call:`")
    case = Case(suite.name, f"bench/{bench.id}", device, DTYPES[dtype], bench_seed(suite, bench))
    return subject.build(case, **dict(bench.params))


def prepare(suite: Any, bench: Any, device: str, dtype: str, batch: int, target: Any = None) -> Workload:
    """The suite benchmark's workload on ``device``/``dtype`` at ``batch``: inputs from the spec,
    the subject (or ``target``) built, ready to time. ``harness bench``, the pytest-benchmark
    items and asv all call this, so a benchmark means the same step in each. Raises
    :class:`UnsupportedDtype` where the device cannot run the dtype."""
    from harness.context import DTYPES

    ok, why = dtype_supported(device, dtype)
    if not ok:
        raise UnsupportedDtype(why)
    inputs = make_inputs(bench.inputs, batch, device, DTYPES[dtype], bench_seed(suite, bench))
    model = target if target is not None else subject_target(suite, bench, device, dtype)
    return build_workload(model, inputs, bench.workload, device)


def builtin_target(bench: Any, device: str, dtype: str, seed: int) -> nn.Module:
    from harness.context import DTYPES

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        m = BUILTINS[bench.builtin](**dict(bench.builtin_params))
    return m.to(device=device, dtype=DTYPES[dtype])


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
    from harness.context import DTYPES

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


def bench_one(suite: Any, bench: Any, device: str, dtype: str, batch: int, *, min_run_time: float = MIN_RUN_TIME,
              peak: float | None = None, repeat: int = 0, target: Any = None) -> dict[str, Any]:
    """One row: ours (and the built-in comparator, if any) on one device, dtype and batch."""
    row: dict[str, Any] = {k: None for k in ROW_FIELDS}
    row.update(suite=suite.name, benchmark=bench.id, workload=bench.workload, device=device, dtype=dtype,
               batch=batch, threads=threads(), flops_label=FLOPS_LABEL, builtin=bench.builtin,
               min_run_time=min_run_time, repeat=repeat, line=bench.line, peak_flops_per_s=peak)
    label = f"{suite.name}/{bench.id}"
    seed = bench_seed(suite, bench)

    def ours() -> dict[str, Any]:
        # everything the step holds lives in this frame, which dies with the call (or with the
        # exception's traceback, cleared at the end of the ``except`` below), so memory is
        # released before the next row even after an out-of-memory error
        return _measure(prepare(suite, bench, device, dtype, batch, target), min_run_time, label)

    try:
        row.update(ours())
        row["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - recorded as the row's status, the run goes on
        row["status"] = classify(e, device)
    _free(device, failed=row["status"] != "ok")
    if row["status"] != "ok":
        return row
    med = row["median_s"]
    row["samples_per_s"] = batch / med if med else None
    if row["flops_per_step"] is not None and med:
        row["achieved_flops_per_s"] = row["flops_per_step"] / med
        if peak:
            row["fraction_of_peak"] = row["achieved_flops_per_s"] / peak
    if bench.builtin:
        def theirs() -> dict[str, Any]:
            w = prepare(suite, bench, device, dtype, batch, builtin_target(bench, device, dtype, seed))
            return _measure(w, min_run_time, label + " builtin", flops=False)

        try:
            bm = theirs()
            row["builtin_median_s"] = bm["median_s"]
            row["builtin_ratio"] = med / bm["median_s"] if bm["median_s"] else None
        except Exception as e:  # noqa: BLE001 - the comparator failing does not void our row
            row["builtin_status"] = classify(e, device)
        _free(device, failed=row["builtin_status"] is not None)
    return row


def plan(suites: Iterable[Any], quick: bool = False, select: str | None = None) -> list[tuple[Any, Any, str, str, int]]:
    """Every (suite, benchmark, device, dtype, batch) to measure here."""
    out = []
    for s in suites:
        for b in s.benchmarks:
            if select and select not in f"{s.name}/{b.id}":
                continue
            sizes = [min(b.batch_sizes)] if quick else list(b.batch_sizes)
            for dev in devices_here(b):
                for dt in dtypes_for(b, dev):
                    for bs in sizes:
                        out.append((s, b, dev, dt, bs))
    return out


def bench_suites(suites: Iterable[Any], quick: bool = False, *, repeat: int = 1, select: str | None = None,
                 min_run_time: float | None = None, progress: bool | None = None) -> tuple[list[dict], dict]:
    """Measure every benchmark of ``suites`` here: ``(rows, extra)`` where ``extra`` goes into
    the run record (``bench_info``: timer settings, measured matmul peaks, notes)."""
    suites = list(suites)
    mrt = min_run_time if min_run_time is not None else (QUICK_MIN_RUN_TIME if quick else MIN_RUN_TIME)
    todo = plan(suites, quick, select)
    t0 = time.perf_counter()
    peaks: dict[tuple[str, str], dict] = {}
    for _, _, dev, dt, _ in todo:
        if (dev, dt) not in peaks:
            peaks[(dev, dt)] = matmul_peak(dev, dt, mrt)
    rows = []
    items = [(r, t) for r in range(repeat) for t in todo]
    try:
        from tqdm import tqdm

        bar = tqdm(items, unit="row", disable=(not progress) if progress is not None else None,
                   dynamic_ncols=True, leave=False)
    except ImportError:  # pragma: no cover
        bar = items
    for r, (s, b, dev, dt, bs) in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(f"{s.name}/{b.id} {dev} {dt} b{bs}", refresh=False)
        rows.append(bench_one(s, b, dev, dt, bs, min_run_time=mrt, repeat=r))
    # The peak is measured before and after the rows and the better of the two kept: a peak is a
    # maximum, and one measurement taken while the machine was busy would inflate every fraction.
    for key, first in peaks.items():
        again = matmul_peak(*key, mrt)
        best = max((first, again), key=lambda p: p.get("flops_per_s") or 0.0)
        peaks[key] = {**best, "flops_per_s_start": first.get("flops_per_s"), "flops_per_s_end": again.get("flops_per_s")}
    for row in rows:
        peak = peaks[(row["device"], row["dtype"])].get("flops_per_s")
        row["peak_flops_per_s"] = peak
        if peak and row.get("achieved_flops_per_s") is not None:
            row["fraction_of_peak"] = row["achieved_flops_per_s"] / peak
    extra = {"bench_info": {
        "timer": "torch.utils.benchmark.Timer.blocked_autorange (median and IQR over blocks; CUDA synchronised)",
        "min_run_time": mrt, "quick": quick, "repeat": repeat, "threads": threads(),
        "flops_label": FLOPS_LABEL, "peak_memory": PEAK_MEMORY_NOTE,
        "dtype_policy": "CUDA: every listed dtype; CPU: float32/float64, low precision only for CPU-only benchmarks",
        "matmul_peaks": list(peaks.values()), "seconds": round(time.perf_counter() - t0, 3),
    }}
    return rows, extra


def summarise(rows: list[dict]) -> str:
    """A short text table of rows (for the terminal)."""
    lines = []
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"{r['suite']}/{r['benchmark']} {r['device']} {r['dtype']} b{r['batch']}: {r['status']}")
            continue
        extra = f"  x{r['builtin_ratio']:.2f} vs {r['builtin']}" if r.get("builtin_ratio") else ""
        frac = f"  {100 * r['fraction_of_peak']:.1f}% of peak" if r.get("fraction_of_peak") else ""
        lines.append(f"{r['suite']}/{r['benchmark']} {r['device']} {r['dtype']} b{r['batch']}: "
                     f"{_fmt_s(r['median_s'])} ±{_fmt_s(r['iqr_s'])} IQR, {r['samples_per_s']:.4g} samples/s{frac}{extra}")
    return "\n".join(lines)


def _fmt_s(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "n/a"
    for unit, f in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"
