"""The case a check runs in: device, dtype, seed, generator and tolerance.

Every case seeds its own ``torch.Generator`` from the suite seed plus a CRC-32 of
``suite/property`` (never Python's ``hash()``). The device and dtype are left out of that
hash on purpose: a property sees the same data on every device and dtype, so a CPU/CUDA or
float32/float64 disagreement is a real one. Random tensors are drawn on the CPU in float64
and then cast and moved, which keeps them identical across devices. No global RNG state is
touched except inside :meth:`Case.fork_rng`, which restores it afterwards.
"""
from __future__ import annotations

import contextlib
import os
import re
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterator, Sequence

import torch

from harness.outcome import Tolerance

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
DEVICES = ("cpu", "cuda")

# Default comparison tolerance per dtype. float64: the catalogue's 1e-10 for deterministic
# identities; lower precisions: torch.testing.assert_close's defaults (about the dtype's
# resolution), which is what "agrees with another library" means.
DEFAULT_TOLERANCE: dict[str, tuple[float, float]] = {
    "float64": (1e-10, 1e-10),
    "float32": (1e-5, 1.3e-6),
    "bfloat16": (1e-5, 1.6e-2),
    "float16": (1e-5, 1e-3),
}


class EnvError(ValueError):
    """An environment variable the harness reads holds a value it cannot use.

    ``str(e)`` is one line naming the variable, the bad value and what is allowed, e.g.
    ``DLH_THREADS='abc' is not valid: expected a whole number >= 1 (...)``; the CLI and the
    pytest plugin turn it into a usage error. ``name``, ``value`` and ``allowed`` are kept.
    """

    def __init__(self, name: str, value: str, allowed: str) -> None:
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"{name}={value!r} is not valid: expected {allowed}")


def env_int(name: str, default: int, *, minimum: int = 1, what: str = "") -> int:
    """The environment variable ``name`` as a whole number >= ``minimum``; ``default`` when it is
    unset or empty. Anything else (``abc``, ``1.5``, a number below ``minimum``) raises
    :class:`EnvError`. ``what`` says what the variable sets, for the message."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    allowed = f"a whole number >= {minimum}" + (f" ({what}; unset means {default})" if what else f" (unset means {default})")
    text = raw.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise EnvError(name, raw, allowed)
    value = int(text)
    if value < minimum:
        raise EnvError(name, raw, allowed)
    return value


def property_threads() -> int:
    """Intra-op threads for property checks: ``DLH_THREADS`` (default 1; a whole number >= 1,
    anything else raises :class:`EnvError`).

    Property checks work on small tensors, where extra threads only add hand-offs (measured
    here: a 64-wide matmul 4 us on one thread, 90 us on two under load), and several pytest-xdist
    workers would oversubscribe the cores. One thread also makes CPU reductions independent of
    the machine's core count, so a case reproduces bit for bit elsewhere. Benchmarks set their
    own thread count and record it.
    """
    return env_int("DLH_THREADS", 1, minimum=1, what="intra-op threads per property check")


def check_env() -> None:
    """Validate every ``DLH_*`` setting read here, raising :class:`EnvError` for the first bad
    one: call it once before running anything (the CLI, the pytest plugin's configure hook)."""
    property_threads()


@contextlib.contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """``torch.set_num_threads(n)`` inside the block, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def case_seed(suite_seed: int, suite: str, property_id: str) -> int:
    """Stable per-property seed: suite seed + CRC-32 of ``suite/property`` (mod 2**31)."""
    return (int(suite_seed) + zlib.crc32(f"{suite}/{property_id}".encode())) % (2**31)


def device_available(device: str) -> tuple[bool, str]:
    """Whether ``device`` can run here, and the reason when it cannot."""
    if device == "cpu":
        return True, ""
    if device == "cuda":
        if torch.cuda.is_available():
            return True, ""
        return False, f"CUDA not available here (torch {torch.__version__}, torch.cuda.is_available() is False)"
    return False, f"unknown device {device!r}"


@dataclass(frozen=True)
class Case:
    suite: str
    property_id: str
    device: str
    dtype: torch.dtype
    seed: int
    tolerance: Tolerance = field(default_factory=lambda: Tolerance(*DEFAULT_TOLERANCE["float64"], "dtype default"))

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).replace("torch.", "")

    @property
    def id(self) -> str:
        return f"{self.property_id}[{self.device}-{self.dtype_name}]"

    @cached_property
    def generator(self) -> torch.Generator:
        """CPU generator seeded with this case's seed (draw on CPU, then move: see module doc)."""
        return torch.Generator("cpu").manual_seed(self.seed)

    # -- tensors -----------------------------------------------------------------------------
    def tensor(self, data: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``data`` as a tensor on this case's device, in its dtype (or ``dtype``)."""
        return torch.as_tensor(data, dtype=dtype or self.dtype, device=self.device)

    def _place(self, t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
        return t.to(device=self.device, dtype=dtype or self.dtype)

    def randn(self, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        return self._place(torch.randn(*shape, generator=self.generator, dtype=torch.float64), dtype)

    def rand(self, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        return self._place(torch.rand(*shape, generator=self.generator, dtype=torch.float64), dtype)

    def randint(self, low: int, high: int, shape: Sequence[int]) -> torch.Tensor:
        return torch.randint(low, high, tuple(shape), generator=self.generator).to(self.device)

    def bernoulli(self, p: float | torch.Tensor, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        probs = torch.full(shape, float(p), dtype=torch.float64) if not isinstance(p, torch.Tensor) else p.detach().cpu().double()
        return self._place(torch.bernoulli(probs, generator=self.generator), dtype)

    def gen(self, device: str | None = None, stream: int = 0) -> torch.Generator:
        """A fresh generator on ``device`` (default: the case's), for library calls that sample on
        the device itself (e.g. a Gibbs chain on CUDA). Its seed is derived from, but differs
        from, :attr:`generator`'s: equal seeds would replay the data drawn by :meth:`randn`.
        Different ``stream`` numbers give independent generators."""
        g = torch.Generator(device or self.device)
        g.manual_seed(zlib.crc32(f"gen/{self.seed}/{stream}".encode()))
        return g

    @contextlib.contextmanager
    def fork_rng(self) -> Iterator[None]:
        """Seed the global RNGs from this case inside the block and restore them after
        (module initialisation and torch functions that take no generator)."""
        devices = [torch.cuda.current_device()] if self.device == "cuda" and torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            yield

    # -- tolerance ---------------------------------------------------------------------------
    def close(self, statement: str, observed: Any, expected: Any, detail: str = "", tol: Tolerance | None = None,
              alternatives: dict[str, Any] | None = None):
        """Compare with this case's tolerance (see :func:`harness.outcome.close`); ``alternatives``
        name known-bug oracles for the failure's diagnosis."""
        from harness.outcome import close

        return close(statement, observed, expected, tol or self.tolerance, detail, self.dtype_name, alternatives)

    def __repr__(self) -> str:  # keeps pytest ids and logs free of generator reprs
        return f"Case({self.suite}::{self.id}, seed={self.seed})"
