"""Checks for activation functions (notes 003 and 004; the catalogue (docs/catalogue.md), section A).

The subject is a module of functions (see :data:`CONTRACT`). Oracles: torch.nn.functional
evaluated in float64 on the CPU, autograd, exact values from the notes, and exact algebraic
identities.
"""
from __future__ import annotations

import torch

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, grad_close, grads, holds
from harness.registry import check

# Inputs every elementwise activation must survive: extremes, the overflow edge of exp in
# float32 (~88.7) / float64 (~709.8) is passed by 1e4; ±80 is where naive exp(-x) forms lose
# float32's range; 0 is the kink of ReLU-type functions.
EXTREMES = (1e4, -1e4, 80.0, -80.0, 0.0, 1.0, -1.0, 1e-8, -1e-8)
# A row of large equal-sign logits: log-softmax there needs the max subtracted first.
NEAR_EXTREME_ROW = (-1e4, -1e4, -1e4 + 1, -1e4 + 2, -1e4, -1e4 + 0.5, -1e4, -1e4 + 3, -1e4)


def _inputs(case, rows: int, scale: float) -> torch.Tensor:
    """(rows + 3, 9): random rows (N(0, scale²)), two rows of :data:`EXTREMES` (the second
    reversed) and :data:`NEAR_EXTREME_ROW`."""
    ext = case.tensor([EXTREMES, EXTREMES[::-1], NEAR_EXTREME_ROW])
    return torch.cat([case.randn(rows, len(EXTREMES)) * scale, ext], dim=0)


_ELEMENTWISE = "x (...) -> (...)"

CONTRACT = load_contract("activations", inputs=lambda subject, case, batch: (case.randn(batch, len(EXTREMES)) * 3.0,))


def _torch_oracle(activation: str, kwargs: dict):
    """The torch.nn.functional counterpart of ``activation`` with the subject's keyword names
    mapped to torch's (leaky_relu ``a`` -> ``negative_slope``; elu ``alpha``)."""
    F = torch.nn.functional
    table = {
        "linear": lambda x: torch.nn.Identity()(x),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "hard_tanh": lambda x: F.hardtanh(x, -1.0, 1.0),
        "softmax": lambda x: F.softmax(x, dim=-1),
        "log_softmax": lambda x: F.log_softmax(x, dim=-1),
        "relu": F.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, negative_slope=float(kwargs.get("a", 0.01))),
        # threshold 40: torch returns x itself above the threshold; log1p(e^-40) = 4e-18 is below
        # float64 resolution relative to 40, whereas the default 20 would leave a 2e-9 gap.
        "softplus": lambda x: F.softplus(x, threshold=40.0),
        "elu": lambda x: F.elu(x, alpha=float(kwargs.get("alpha", 1.0))),
    }
    if activation not in table:
        raise ValueError(f"no torch oracle for activation {activation!r}; known: {', '.join(table)}")
    return table[activation]


@check(requires=("softmax",))
def softmax_sums_to_one(subject, case, rows: int = 64, classes: int = 10, scale: float = 5.0) -> Outcome:
    """Each softmax row is a probability vector: Σ_i softmax(x)_i = 1 and 0 < softmax(x)_i < 1."""
    x = case.randn(rows, classes) * scale
    p = subject.fn("softmax")(x, dim=-1)
    return all_of(
        case.close("row sums of softmax(x)", p.sum(-1), torch.ones(rows, dtype=torch.float64)),
        bound("min softmax entry", float(p.min()), 0.0, op=">"),
        bound("max softmax entry", float(p.max()), 1.0, op="<"),
    )


@check(requires=("softmax",))
def softmax_shift_invariant(subject, case, rows: int = 32, classes: int = 8, max_shift: int = 10000) -> Outcome:
    """softmax(x + c·1) = softmax(x) for every scalar c, including shifts far past exp's overflow.

    Logits lie on the grid 2⁻⁸·ℤ ∩ [−8, 8] and shifts c are integers with |c| ≤ 10⁴, so x + c is
    exact in float32 and float64: any difference is the function's, not the input's rounding. A
    softmax without the max-subtraction overflows to nan/inf for c ≳ 89 (float32) or 710 (float64).
    """
    x = torch.round(case.rand(rows, classes, dtype=torch.float64) * 4096 - 2048) / 256
    c = case.randint(-max_shift, max_shift + 1, (rows, 1)).to(torch.float64)
    c[0, 0], c[1, 0] = float(max_shift), float(-max_shift)
    x, c = x.to(case.dtype), c.to(case.dtype)
    sm = subject.fn("softmax")
    return case.close("softmax(x + c) vs softmax(x)", sm(x + c, dim=-1), sm(x, dim=-1),
                      detail=f"{rows} rows of {classes}, |c| ≤ {max_shift}")


@check(requires=("softmax",))
def softmax_finite_at_extreme_logits(subject, case) -> Outcome:
    """At logits of magnitude 10⁴ softmax stays finite, sums to 1 and equals torch.softmax (float64)."""
    rows = [
        [1e4, -1e4, 0.0, 5.0],
        [1e4, 1e4, 1e4, 1e4],
        [-1e4, -1e4, -1e4, -1e4],
        [1e4, 1e4 - 1.0, 1e4 - 2.0, -1e4],
        [-1e4, -1e4 + 1.0, -1e4, -1e4 + 3.0],
        [1e4, 0.0, 0.0, 0.0],
    ]
    x = case.tensor(rows)
    p = subject.fn("softmax")(x, dim=-1)
    finite = bool(torch.isfinite(p).all())
    return all_of(
        holds("softmax(±1e4 logits) is finite", finite, f"{int((~torch.isfinite(p)).sum())} non-finite of {p.numel()}"),
        case.close("row sums of softmax(±1e4 logits)", p.sum(-1), torch.ones(len(rows), dtype=torch.float64)),
        case.close("softmax(±1e4 logits) vs torch.softmax in float64", p, torch.softmax(f64(x), dim=-1)),
    )


@check(requires=("softmax",))
def softmax_jacobian(subject, case, rows: int = 4, classes: int = 6, scale: float = 2.0) -> Outcome:
    """The Jacobian of p = softmax(z) is ∂p_i/∂z_j = p_i(δ_ij − p_j), i.e. diag(p) − ppᵀ.

    Oracle: torch.autograd.functional.jacobian of the subject's softmax against the closed form
    built from torch.softmax in float64.
    """
    sm = subject.fn("softmax")
    z = case.randn(rows, classes) * scale
    outs = []
    for r in range(rows):
        J = torch.autograd.functional.jacobian(lambda v: sm(v, dim=-1), z[r])
        p = torch.softmax(f64(z[r]), dim=-1)
        outs.append(case.close(f"autograd Jacobian of softmax, row {r}, vs diag(p) − ppᵀ", J,
                               torch.diag(p) - torch.outer(p, p)))
    return all_of(outs)


@check(requires=("tanh", "sigmoid"))
def tanh_is_rescaled_sigmoid(subject, case, n: int = 256, scale: float = 4.0) -> Outcome:
    """tanh(x) = 2σ(2x) − 1 for all x (here on N(0, 16) draws and ±1e4, ±80, 0, ±1e-8)."""
    x = _inputs(case, n // len(EXTREMES), scale)
    t = subject.fn("tanh")(x)
    s = subject.fn("sigmoid")(2 * x)
    return case.close("tanh(x) vs 2σ(2x) − 1", t, 2 * f64(s) - 1)


@check(requires=("softplus",))
def softplus_derivative_is_sigmoid(subject, case, n: int = 256, scale: float = 4.0) -> Outcome:
    """d/dx softplus(x) = σ(x) everywhere, including x = 0 (σ(0) = ½) and |x| = 1e4.

    Oracle: autograd through the subject's softplus against torch.sigmoid in float64.
    """
    x = _inputs(case, n // len(EXTREMES), scale).requires_grad_(True)
    (g,) = torch.autograd.grad(subject.fn("softplus")(x).sum(), x)
    return case.close("autograd softplus′(x) vs torch.sigmoid(x)", g, torch.sigmoid(f64(x)))


@check(requires=("hard_tanh",))
def hard_tanh_is_clamp(subject, case, n: int = 256, scale: float = 3.0) -> Outcome:
    """hard tanh(x) = clamp(x, −1, 1) exactly (notes 003: caps at ±1, identity in between)."""
    edges = case.tensor([-1.0, 1.0, -1.0 - 1e-6, 1.0 + 1e-6, 0.999, -0.999, 0.0, 1e4, -1e4])
    x = torch.cat([case.randn(n) * scale, edges])
    return exact("hard_tanh(x) vs torch.clamp(x, −1, 1)", subject.fn("hard_tanh")(x), torch.clamp(x, -1.0, 1.0))


# Notes 004, "Non Linearity (ReLU)": the 4×4 feature map and its rectified image. The notes'
# numbers are consistent (every negative entry becomes 0, the rest are kept).
RELU_EXAMPLE_IN = [[1, 14, -9, 4], [-2, -20, 10, 6], [-3, 3, 11, 1], [2, 54, -2, 80]]
RELU_EXAMPLE_OUT = [[1, 14, 0, 4], [0, 0, 10, 6], [0, 3, 11, 1], [2, 54, 0, 80]]


@check(requires=("relu",))
def relu_worked_example(subject, case) -> Outcome:
    """ReLU maps notes 004's 4×4 feature map [[1,14,−9,4],[−2,−20,10,6],[−3,3,11,1],[2,54,−2,80]]
    exactly to [[1,14,0,4],[0,0,10,6],[0,3,11,1],[2,54,0,80]]."""
    y = subject.fn("relu")(case.tensor(RELU_EXAMPLE_IN))
    return exact("relu(notes 004 example)", y, case.tensor(RELU_EXAMPLE_OUT))


@check(requires=())
def activation_matches_torch(subject, case, activation: str, kwargs: dict | None = None, rows: int = 24,
                             scale: float = 3.0) -> Outcome:
    """The subject's activation equals its torch.nn.functional counterpart (evaluated in float64
    on the same inputs) on N(0, 9) draws and on the extremes ±1e4, ±80, ±1, ±1e-8, 0.

    ``activation`` names the subject's function; ``kwargs`` its keyword arguments (leaky_relu
    ``a``, elu ``alpha``). softmax and log_softmax are taken along the last axis (rows of 9).
    """
    kw = dict(kwargs or {})
    x = _inputs(case, rows, scale)
    if activation in ("softmax", "log_softmax"):
        y = subject.fn(activation)(x, dim=-1)
    else:
        y = subject.fn(activation)(x, **kw)
    ref = _torch_oracle(activation, kw)(f64(x))
    shown = ", ".join(f"{k}={v}" for k, v in kw.items())
    return case.close(f"{activation}({shown or 'x'}) vs torch.nn.functional in float64", y, ref,
                      detail=f"{x.shape[0] - 3} random rows + 3 rows of extremes")


@check(requires=("maxout",))
def maxout_matches_max_pool(subject, case, k: int = 3, units: int = 5, batch: int = 16) -> Outcome:
    """maxout(x, k)_j = max_{i<k} x_{jk+i}: equals torch's max_pool1d with kernel k and stride k
    over the feature axis (exact: a max picks one of its inputs)."""
    x = case.randn(batch, units * k)
    ref = torch.nn.functional.max_pool1d(x.unsqueeze(1), kernel_size=k, stride=k).squeeze(1)
    return exact(f"maxout(x, k={k}) vs max_pool1d(kernel={k}, stride={k})", subject.fn("maxout")(x, k), ref)


@check(requires=("maxout",))
def maxout_k1_is_identity(subject, case, features: int = 7, batch: int = 16) -> Outcome:
    """Maxout with one piece per unit (k = 1) is the identity map, exactly."""
    x = case.randn(batch, features)
    return exact("maxout(x, k=1) vs x", subject.fn("maxout")(x, 1), x)


@check(requires=("maxout_affine",))
def maxout_represents_abs_and_relu(subject, case, n: int = 64, scale: float = 3.0) -> Outcome:
    """A maxout unit of two affine pieces max(w₁x + b₁, w₂x + b₂) represents |x| exactly with
    (w, b) = ((1, 0), (−1, 0)) and ReLU exactly with ((1, 0), (0, 0)) (notes 004; Goodfellow et
    al. 2013)."""
    x = torch.cat([case.randn(n, 1) * scale, case.tensor([[0.0], [1e4], [-1e4]])])
    ma = subject.fn("maxout_affine")
    b = case.tensor([0.0, 0.0])
    y_abs = ma(x, case.tensor([[1.0], [-1.0]]), b, 2)
    y_relu = ma(x, case.tensor([[1.0], [0.0]]), b, 2)
    return all_of(
        exact("maxout of (x, −x) vs |x|", y_abs, x.abs()),
        exact("maxout of (x, 0) vs relu(x)", y_relu, torch.nn.functional.relu(x)),
    )


def _torch_grad_oracle(activation: str, kwargs: dict):
    """The torch function whose autograd derivative is the contract's for ``activation``: the
    torch.nn.functional counterpart, except hard tanh, whose contract is torch.clamp(x, −1, 1)
    (derivative 1 on the closed interval [−1, 1]; F.hardtanh's backward gives 0 at ±1)."""
    if activation == "hard_tanh":
        return lambda x: torch.clamp(x, -1.0, 1.0)
    return _torch_oracle(activation, kwargs)


@check(requires=())
def activation_gradient_matches_torch(subject, case, activation: str, kwargs: dict | None = None, rows: int = 24,
                                      scale: float = 3.0) -> Outcome:
    """Autograd through the subject's activation gives torch's derivative: for a random cotangent w,
    ∂⟨w, f(x)⟩/∂x equals the same vector-Jacobian product through the torch built-in (float64),
    on N(0, 9) draws and on ±1e4, ±80, ±1, ±1e-8 and the kink 0.

    At the kinks the derivative is torch's convention: relu′(0) = 0, leaky_relu′(0) = a, elu′(0) =
    α, hard tanh′(±1) = 1 (torch.clamp's); the smooth functions have their true derivatives there
    (σ′(0) = ¼, tanh′(0) = 1). ``activation`` and ``kwargs`` as in activation_matches_torch.
    """
    kw = dict(kwargs or {})
    x = _inputs(case, rows, scale).requires_grad_(True)
    w = case.randn(*x.shape)
    if activation in ("softmax", "log_softmax"):
        y = subject.fn(activation)(x, dim=-1)
    else:
        y = subject.fn(activation)(x, **kw)
    (g,) = grads((y * w).sum(), [x])
    x64 = f64(x.detach()).requires_grad_(True)
    (ref,) = torch.autograd.grad((_torch_grad_oracle(activation, kw)(x64) * f64(w)).sum(), x64)
    at0 = x.detach() == 0
    shown = ", ".join(f"{k}={v}" for k, v in kw.items())
    return all_of(
        grad_close(case, f"autograd ∂⟨w, {activation}({shown or 'x'})⟩/∂x vs torch's, float64", g, ref,
                    detail=f"{x.shape[0] - 3} random rows + 3 rows of extremes"),
        grad_close(case, f"the same at x = 0 ({int(at0.sum())} entries)", None if g is None else g[at0], ref[at0]),
    )


def _linear_params(layer, n_in: int, n_pieces: int):
    """The maxout layer's weight (n_pieces, n_in) and bias (n_pieces,), found by shape."""
    params = list(layer.parameters())
    W = [p for p in params if tuple(p.shape) == (n_pieces, n_in)]
    b = [p for p in params if tuple(p.shape) == (n_pieces,)]
    return params, W, b


@check(requires=("Maxout",))
def maxout_layer_is_max_of_affine_pieces(subject, case, n_in: int = 5, units: int = 4, k: int = 3,
                                         batch: int = 16) -> Outcome:
    """Maxout(in, m, k) holds exactly a weight (m·k, in) and a bias (m·k,) (nn.Linear layout, m·k·(in
    + 1) parameters in all), maps (B, in) to (B, m) with y_j = max_{i<k}(w_{jk+i}ᵀx + b_{jk+i}) (oracle:
    torch's F.linear and max_pool1d with kernel = stride = k on the layer's own weights), and autograd
    pushes ∂⟨c, y⟩ to x, W and b as through that oracle (each piece's gradient lands on the maximising row).

    The layer is built here at a small size of the check's own: the family has no model sizes.
    """
    F = torch.nn.functional
    with case.fork_rng():
        layer = subject.fn("Maxout")(n_in, units, k).to(device=case.device, dtype=case.dtype)
    params, W, b = _linear_params(layer, n_in, units * k)
    n_params = sum(p.numel() for p in params)
    shapes = [tuple(p.shape) for p in params]
    if len(W) != 1 or len(b) != 1:
        return all_of(exact("parameter shapes", sorted(shapes), sorted([(units * k, n_in), (units * k,)])),
                      exact("parameter count m·k·(in + 1)", n_params, units * k * (n_in + 1)))
    x = case.randn(batch, n_in).requires_grad_(True)
    c = case.randn(batch, units)
    y = layer(x)
    gx, gW, gb = grads((y * c).sum(), [x, W[0], b[0]])
    x64, W64, b64 = (f64(t.detach()).requires_grad_(True) for t in (x, W[0], b[0]))
    ref = F.max_pool1d(F.linear(x64, W64, b64).unsqueeze(1), kernel_size=k, stride=k).squeeze(1)
    rx, rW, rb = torch.autograd.grad((ref * f64(c)).sum(), [x64, W64, b64])
    return all_of(
        exact("parameter count m·k·(in + 1)", n_params, units * k * (n_in + 1)),
        exact("output shape", tuple(y.shape), (batch, units)),
        case.close(f"Maxout({n_in}, {units}, k={k})(x) vs max_pool1d(F.linear(x, W, b))", y, ref.detach()),
        grad_close(case, "autograd ∂⟨c, y⟩/∂x vs the oracle's", gx, rx),
        grad_close(case, "autograd ∂⟨c, y⟩/∂W vs the oracle's", gW, rW),
        grad_close(case, "autograd ∂⟨c, y⟩/∂b vs the oracle's", gb, rb),
    )
