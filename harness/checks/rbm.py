"""Checks for the binary-binary RBM, suite ``rbm``; the interface is :data:`CONTRACT`.

Checks of the functional cores build their own tiny RBMs on purpose: the oracle throughout is
exact enumeration of the energy's definition over every joint state (:class:`_Enum`, float64 on
the CPU), so those checks pick their own widths (their ``n_visible``/``n_hidden`` *check*
parameters, 2 to 12 units, set under ``with:``) and call the cores at those shapes; the cores
must accept any (V, H). The subject's own ``n_visible``/``n_hidden`` (suite ``params``) size
the module (:func:`rbm_module_forward_is_free_energy`, which enumerates only the 2^n_hidden
hidden states) and the hidden layer of the digits training.

Other oracles: scipy and scikit-learn, and autograd of a log-likelihood enumerated here (the
exact gradient). Statistical checks use many independent chains (no autocorrelation) and scipy's
chi-square test at a stated alpha, or ``within_se`` at 5 standard errors; the estimators of the
gradient (CD-k, notes 001's random-start estimator) are compared with expectations computed from
the exactly enumerated block-Gibbs kernel.
"""
from __future__ import annotations

import itertools
import math

import torch

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds, p_value, within_se
from harness.registry import SubjectError, check

_TIGHT = {"float64": {"atol": 1e-12, "rtol": 0.0}}
_TIGHT_WHY = "catalogue: Gibbs stationarity and detailed balance in float64 to <= 1e-12"
MAX_HIDDEN_ENUMERATION = 16  # rbm_module_forward_is_free_energy enumerates 2^n_hidden hidden states


def _inputs(subject, case, batch: int) -> tuple:
    """v (B, n_visible), Bernoulli(1/2) in {0, 1}, in the case's floating dtype."""
    return (case.bernoulli(0.5, batch, subject.size("n_visible")),)



CONTRACT = load_contract("rbm", inputs=_inputs)


# --------------------------------------------------------------------------------------------
# exact enumeration oracle (float64, CPU), built from the energy's definition only
# --------------------------------------------------------------------------------------------
def _bits(n: int) -> torch.Tensor:
    """All 2^n binary vectors (2^n, n), first bit most significant (index = binary number)."""
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=n)), dtype=torch.float64).reshape(2**n, n)


def _index(x: torch.Tensor) -> torch.Tensor:
    """Row index of binary rows ``x`` in :func:`_bits` order."""
    n = x.shape[-1]
    return (x.detach().cpu().round().long() * (2 ** torch.arange(n - 1, -1, -1))).sum(-1)


class _Enum:
    """Exact distribution of a small RBM: -E(v,h) = a.v + b.h + v W h over all joint states."""

    def __init__(self, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
        self.W, self.a, self.b = map(f64, (W, a, b))
        self.n_v, self.n_h = self.W.shape
        self.V, self.H = _bits(self.n_v), _bits(self.n_h)
        self.negE = (self.V @ self.a)[:, None] + (self.H @ self.b)[None, :] + self.V @ self.W @ self.H.T  # (2^n_v, 2^n_h)
        self.logZ = torch.logsumexp(self.negE.flatten(), 0)
        self.joint = (self.negE - self.logZ).exp()  # p(v, h)
        self.pv = self.joint.sum(1)  # p(v)
        self.Ph = torch.softmax(self.negE, dim=1)  # p(h | v), rows v
        self.Pv = torch.softmax(self.negE.T, dim=1)  # p(v | h), rows h
        self.Tv = self.Ph @ self.Pv  # block Gibbs v -> v'

    @property
    def pi(self) -> torch.Tensor:
        """p(x) over x = (v, h), index v_idx * 2^n_h + h_idx (= the bits of v then h)."""
        return self.joint.flatten()

    def joint_step(self, mu_v: torch.Tensor) -> torch.Tensor:
        """Law of (v', h) after one block step from v ~ mu_v: mu(v) p(h|v) p(v'|h), as (v', h) flat."""
        hv = (mu_v @ self.Ph)[:, None] * self.Pv  # (h, v')
        return hv.T.flatten()

    def single_site_kernel(self, site: int) -> torch.Tensor:
        """K_i[x, y] = p(y_i | x_-i) 1[y_-i = x_-i] over joint states x = (v, h)."""
        n = self.n_v + self.n_h
        pi = self.pi
        idx = torch.arange(2**n)
        bit = 1 << (n - 1 - site)
        x0, x1 = idx & ~bit, idx | bit
        p1 = pi[x1] / (pi[x0] + pi[x1])
        K = torch.zeros(2**n, 2**n, dtype=torch.float64)
        K[idx, x1] += p1
        K[idx, x0] += 1 - p1
        return K


def _neg_energies(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """-E(v, h) = a.v + b.h + v W h for every row of ``v`` and every hidden state h in :func:`_bits`
    order: (B, 2^n_hidden), float64 on the CPU (enumerates the hidden layer only)."""
    v, W, a, b = map(f64, (v, W, a, b))
    H = _bits(W.shape[1])
    return (v @ a)[:, None] + (H @ b)[None, :] + (v @ W) @ H.T


def _toy(case, n_v: int, n_h: int, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random W (n_v, n_h), a, b with entries N(0, scale^2), on the case's device and dtype."""
    return case.randn(n_v, n_h) * scale, case.randn(n_v) * scale, case.randn(n_h) * scale


def _bernoulli_table(p: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """prod_j p_j^s_j (1 - p_j)^(1 - s_j) for every row of p (rows) and every state s (cols)."""
    p = f64(p)[:, None, :]  # (rows, 1, n)
    return torch.where(states[None] == 1, p, 1 - p).prod(-1)


def _chisquare_rows(counts: torch.Tensor, probs: torch.Tensor) -> tuple[float, float, int]:
    """Sum over independent rows of scipy's chi-square statistic (cells with expected < 5
    pooled); returns (statistic, p-value from chi2 with the summed degrees of freedom, n)."""
    from scipy import stats

    total, dof = 0.0, 0
    for c, p in zip(counts.double(), probs):
        n = float(c.sum())
        e = p * n
        small = e < 5
        if small.any():
            c = torch.cat([c[~small], c[small].sum()[None]])
            e = torch.cat([e[~small], e[small].sum()[None]])
        e = e * (c.sum() / e.sum())  # scipy requires equal sums to relative 1e-8
        res = stats.chisquare(c.numpy(), e.numpy())
        total += float(res.statistic)
        dof += len(c) - 1
    return total, float(stats.chi2.sf(total, dof)), int(counts.sum())


# --------------------------------------------------------------------------------------------
# definitions: energy, free energy, conditionals, partition function
# --------------------------------------------------------------------------------------------
@check(requires=("energy",))
def rbm_energy_definition(subject, case, n_visible: int = 5, n_hidden: int = 3, batch: int = 16) -> Outcome:
    """E(v, h) = -sum_i a_i v_i - sum_j b_j h_j - sum_ij v_i W_ij h_j with W of shape (n_visible, n_hidden)."""
    W, a, b = _toy(case, n_visible, n_hidden, 1.0)
    v, h = case.bernoulli(0.5, batch, n_visible), case.bernoulli(0.5, batch, n_hidden)
    got = subject.fn("energy")(v, h, W, a, b)
    W_, a_, b_, v_, h_ = (f64(t).tolist() for t in (W, a, b, v, h))
    want = [-math.fsum([a_[i] * v_[n][i] for i in range(n_visible)] + [b_[j] * h_[n][j] for j in range(n_hidden)]
                       + [v_[n][i] * W_[i][j] * h_[n][j] for i in range(n_visible) for j in range(n_hidden)])
            for n in range(batch)]
    return case.close("E(v,h) against the double sum (math.fsum)", got, torch.tensor(want, dtype=torch.float64),
                      detail=f"W {n_visible}x{n_hidden}, batch {batch}")


@check(requires=("free_energy",))
def rbm_free_energy_marginalises_hiddens(subject, case, n_visible: int = 6, n_hidden: int = 5, batch: int = 32,
                                         extreme_scale: float = 300.0) -> Outcome:
    """F(v) = -log sum_h e^(-E(v,h)) (exact enumeration of h, torch.logsumexp), also when W and b
    are so large that the pre-activations b + W^T v reach +-1e3 (no overflow of e^x)."""
    fe = subject.fn("free_energy")
    out = []
    for label, scale in (("unit weights", 1.0), ("extreme weights", extreme_scale)):
        W, a, b = _toy(case, n_visible, n_hidden, 1.0)
        W, b = W * scale, b * scale  # a stays O(1): no cancellation between -a.v and the softplus sum
        v = case.bernoulli(0.5, batch, n_visible)
        want = -torch.logsumexp(_neg_energies(v, W, a, b), dim=1)
        out.append(case.close(f"F(v) vs -logsumexp_h(-E(v,h)), {label}", fe(v, W, a, b), want))
    return all_of(*out)


@check(requires=("free_energy",))
def rbm_free_energy_gradient(subject, case, n_visible: int = 6, n_hidden: int = 4, batch: int = 16) -> Outcome:
    """By autograd, dF/dW = -v p(h=1|v)^T, dF/da = -v and dF/db = -p(h=1|v) with
    p(h=1|v) = sigmoid(b + W^T v) (torch.sigmoid): the statistics CD-k subtracts."""
    W, a, b = (t.requires_grad_() for t in _toy(case, n_visible, n_hidden, 1.0))
    v = case.bernoulli(0.5, batch, n_visible)
    subject.fn("free_energy")(v, W, a, b).sum().backward()
    v64, W64, b64 = map(f64, (v, W, b))
    p = torch.sigmoid(b64 + v64 @ W64)
    return all_of(case.close("dF/dW summed over the batch", W.grad, -v64.T @ p),
                  case.close("dF/da", a.grad, -v64.sum(0)),
                  case.close("dF/db", b.grad, -p.sum(0)))


@check(requires=("mean_hiddens", "mean_visibles"))
def rbm_conditionals_from_joint(subject, case, n_visible: int = 4, n_hidden: int = 3, scale: float = 1.5) -> Outcome:
    """p(h_j=1|v) = sum_{h: h_j=1} e^(-E(v,h)) / sum_h e^(-E(v,h)) = mean_hiddens(v)_j, and likewise
    mean_visibles(h)_i, for every v and h (ratios of enumerated joint probabilities)."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    V, H = e.V.to(case.device, case.dtype), e.H.to(case.device, case.dtype)
    want_h = e.Ph @ e.H  # E[h | v] = p(h_j = 1 | v)
    want_v = e.Pv @ e.V
    return all_of(case.close(f"mean_hiddens over all {len(V)} v", subject.fn("mean_hiddens")(V, W, b), want_h),
                  case.close(f"mean_visibles over all {len(H)} h", subject.fn("mean_visibles")(H, W, a), want_v))


@check(requires=("log_partition", "free_energy"))
def rbm_log_partition_enumeration(subject, case, n_visible: int = 5, n_hidden: int = 4, extreme_scale: float = 300.0) -> Outcome:
    """log Z = log sum_{v,h} e^(-E(v,h)) (scipy.special.logsumexp over all joint states), including
    for W = 0 where log Z = sum_i softplus(a_i) + sum_j softplus(b_j), and at extreme weights;
    and exp(-F(v) - log Z) sums to 1 over all v."""
    import numpy as np
    from scipy.special import logsumexp

    lz, fe = subject.fn("log_partition"), subject.fn("free_energy")
    out = []
    for label, scale in (("unit weights", 1.0), ("extreme weights", extreme_scale)):
        W, a, b = _toy(case, n_visible, n_hidden, scale)
        e = _Enum(W, a, b)
        out.append(case.close(f"log Z, {label}", lz(W, a, b), float(logsumexp(e.negE.numpy()))))
    W, a, b = _toy(case, n_visible, n_hidden, 1.0)
    a64, b64 = map(f64, (a, b))
    closed = float(np.logaddexp(0, a64.numpy()).sum() + np.logaddexp(0, b64.numpy()).sum())
    out.append(case.close("log Z at W = 0 vs sum of softplus", lz(torch.zeros_like(W), a, b), closed))
    V = _bits(n_visible).to(case.device, case.dtype)
    total = torch.exp(-fe(V, W, a, b).double() - lz(W, a, b).double()).sum()
    out.append(case.close("sum_v exp(-F(v) - log Z)", total, 1.0))
    # A third layout: swap roles (n_h > n_v) so both enumeration branches are exercised.
    W, a, b = _toy(case, n_hidden - 1, n_visible + 1, 1.0)
    out.append(case.close("log Z with n_hidden > n_visible", lz(W, a, b), float(logsumexp(_Enum(W, a, b).negE.numpy()))))
    return all_of(*out)


# --------------------------------------------------------------------------------------------
# Markov chains: exact transition matrices and stationarity
# --------------------------------------------------------------------------------------------
@check(requires=("mean_hiddens", "mean_visibles"), tolerance=_TIGHT, why=_TIGHT_WHY)
def rbm_block_gibbs_stationary(subject, case, n_visible: int = 3, n_hidden: int = 2, scale: float = 1.5) -> Outcome:
    """The block-Gibbs kernel T[(v,h),(v',h')] = p(h'|v) p(v'|h') built from the implementation's
    mean_hiddens/mean_visibles leaves pi(v,h) = e^(-E(v,h))/Z invariant, pi T = pi (and the v-chain
    leaves p(v) invariant), and T equals the kernel of exact enumeration."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    V, H = e.V.to(case.device, case.dtype), e.H.to(case.device, case.dtype)
    Ph = _bernoulli_table(subject.fn("mean_hiddens")(V, W, b), e.H)  # (v, h')
    Pv = _bernoulli_table(subject.fn("mean_visibles")(H, W, a), e.V)  # (h', v')
    nh, nv = len(e.H), len(e.V)

    def kernel(ph: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
        # T[(v,h), (v',h')] = ph[v,h'] pv[h',v'], the same for every h
        m = ph[:, None, :] * pv.T[None, :, :]  # (v, v', h')
        return m[:, None].expand(nv, nh, nv, nh).reshape(nv * nh, nv * nh)

    T, T_exact = kernel(Ph, Pv), kernel(e.Ph, e.Pv)
    pi = e.pi
    return all_of(
        case.close("rows of T sum to 1", T.sum(1), torch.ones(nv * nh, dtype=torch.float64)),
        case.close(f"pi T over the {nv * nh} joint states", pi @ T, pi),
        case.close("p(v) T_v over visible states", e.pv @ (Ph @ Pv), e.pv),
        case.close("T vs the kernel of exact enumeration", T, T_exact),
    )


def _site_probability(step, v, h, W, a, b, site: int, iters: int = 60) -> tuple[torch.Tensor, Outcome]:
    """P(x_site' = 1) of ``step`` at every state, from the switch point of u -> x_site'(u) on
    [0, 1) (bisection; any rule x' = 1[u < p] or 1[u >= 1 - p] is an interval), plus an
    outcome saying the step left every other coordinate unchanged."""
    x = torch.cat([v, h], dim=-1)
    n = x.shape[0]

    def out(u: torch.Tensor) -> torch.Tensor:
        v2, h2 = step(v, h, W, a, b, site=site, u=u)
        x2 = torch.cat([v2, h2], dim=-1)
        others = torch.ones(x.shape[1], dtype=torch.bool, device=x.device)
        others[site] = False
        unchanged.append(bool(torch.equal(x2[:, others], x[:, others])))
        return f64(x2[:, site])

    unchanged: list[bool] = []
    lo = torch.zeros(n, dtype=torch.float64)
    hi = torch.full((n,), 1.0 - 2.0**-53, dtype=torch.float64)
    at0, at1 = out(lo.to(x.device, x.dtype)), out(hi.to(x.device, x.dtype))
    for _ in range(iters):
        mid = (lo + hi) / 2
        same = out(mid.to(x.device, x.dtype)) == at0
        lo, hi = torch.where(same, mid, lo), torch.where(same, hi, mid)
    switch = torch.where(at0 == at1, torch.ones_like(hi), hi)  # output equals at0 on [0, switch)
    p1 = torch.where(at0 == 1, switch, 1 - switch)
    return p1, holds("the step changes no coordinate but the chosen site", all(unchanged),
                     f"{len(unchanged)} calls of {n} states")


@check(requires=("single_site_gibbs_step",), tolerance=_TIGHT, why=_TIGHT_WHY)
def rbm_single_site_detailed_balance(subject, case, n_visible: int = 3, n_hidden: int = 2, scale: float = 1.5) -> Outcome:
    """The single-site Gibbs kernel of notes 001, read off single_site_gibbs_step itself (site i
    and uniform u injected; P(x_i'=1) found as the measure of {u : x_i'(u) = 1}), satisfies
    detailed balance pi_x K_i[x,y] = pi_y K_i[y,x] for every site i and pi = e^(-E)/Z, and so
    pi T = pi for the uniform mixture T = mean_i K_i."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    n = n_visible + n_hidden
    X = _bits(n).to(case.device, case.dtype)
    v, h = X[:, :n_visible], X[:, n_visible:]
    pi = e.pi
    step = subject.fn("single_site_gibbs_step")
    out, Ks = [], []
    idx = torch.arange(2**n)
    for i in range(n):
        p1, same = _site_probability(step, v, h, W, a, b, i)
        bit = 1 << (n - 1 - i)
        K = torch.zeros(2**n, 2**n, dtype=torch.float64)
        K[idx, idx | bit] += p1
        K[idx, idx & ~bit] += 1 - p1
        flow = pi[:, None] * K
        out += [same, case.close(f"pi_x K_{i}[x,y] = pi_y K_{i}[y,x] (site {i})", flow, flow.T)]
        Ks.append(K)
    T = torch.stack(Ks).mean(0)
    out.append(case.close("pi T = pi for T = mean_i K_i", pi @ T, pi))
    return all_of(*out)


@check(requires=("gibbs_step",), marks=("statistical",))
def rbm_gibbs_step_kernel(subject, case, n_visible: int = 3, n_hidden: int = 3, scale: float = 1.5,
                          samples_per_state: int = 4000, alpha: float = 1e-3) -> Outcome:
    """From every visible state v, gibbs_step(v) returns (v', h) with law p(h|v) p(v'|h) of exact
    enumeration: chi-square over the joint cells, summed over the independent start states."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    nv, nh = len(e.V), len(e.H)
    v0 = e.V.repeat_interleave(samples_per_state, 0).to(case.device, case.dtype)
    v1, h = subject.fn("gibbs_step")(v0, W, a, b, generator=case.gen())
    cell = (_index(v1) * nh + _index(h)).reshape(nv, samples_per_state)
    counts = torch.stack([torch.bincount(c, minlength=nv * nh) for c in cell])
    probs = (e.Ph[:, :, None] * e.Pv[None, :, :]).permute(0, 2, 1).reshape(nv, nv * nh)  # [v, (v', h)]
    stat, p, n = _chisquare_rows(counts, probs)
    return p_value("one gibbs_step from each v has law p(h|v) p(v'|h)", stat, p, alpha, n, "chi-square (rows summed)",
                   f"{nv} start states x {samples_per_state} samples; false-alarm rate {alpha:g}")


def _burn_in(e: _Enum, step_law, mu0: torch.Tensor, n: int, max_steps: int, target: float = 0.01) -> tuple[int, float]:
    """Smallest K with n * sum (mu_K - pi)^2 / pi <= target (the chi-square non-centrality the
    unconverged start adds; 0.01 moves the test's false-alarm rate by < 1e-4), exactly."""
    mu, pi = mu0, e.pi
    for k in range(1, max_steps + 1):
        mu = step_law(mu)
        lam = float(n * ((mu - pi) ** 2 / pi).sum())
        if lam <= target:
            return k, lam
    return max_steps + 1, lam


@check(requires=("gibbs_step",), marks=("statistical",))
def rbm_gibbs_chain_chi_square(subject, case, n_visible: int = 3, n_hidden: int = 2, scale: float = 1.0,
                               chains: int = 20000, alpha: float = 1e-3, max_steps: int = 500) -> Outcome:
    """Independent block-Gibbs chains run with gibbs_step from v ~ Bernoulli(1/2) for K steps
    (K from the exact convergence of the enumerated kernel) end in (v, h) whose empirical law
    passes scipy.stats.chisquare against pi(v,h) = e^(-E(v,h))/Z (alpha 1e-3 = false-alarm rate;
    chains are independent, so no thinning is needed)."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    nv = len(e.V)
    mu0 = torch.full((len(e.pi),), 1.0 / len(e.pi), dtype=torch.float64)  # v uniform (h is overwritten)
    K, lam = _burn_in(e, lambda mu: e.joint_step(mu.reshape(nv, -1).sum(1)), mu0, chains, max_steps)
    if K > max_steps:
        return holds("the chain converges within max_steps", False, f"non-centrality {lam:.3g} after {max_steps} steps")
    g = case.gen()
    v = torch.bernoulli(torch.full((chains, n_visible), 0.5, dtype=case.dtype, device=case.device), generator=g)
    step = subject.fn("gibbs_step")
    for _ in range(K):
        v, h = step(v, W, a, b, generator=g)
    counts = torch.bincount(_index(v) * len(e.H) + _index(h), minlength=len(e.pi))
    stat, p, n = _chisquare_rows(counts[None], e.pi[None])
    return p_value("final (v, h) of independent gibbs_step chains ~ e^(-E)/Z", stat, p, alpha, n, "chi-square",
                   f"{chains} chains x {K} steps (start bias: non-centrality {lam:.2g}); false-alarm rate {alpha:g}")


@check(requires=("single_site_gibbs_step",), marks=("statistical",))
def rbm_single_site_chain_chi_square(subject, case, n_visible: int = 3, n_hidden: int = 2, scale: float = 1.0,
                                     chains: int = 20000, alpha: float = 1e-3, max_steps: int = 2000) -> Outcome:
    """Independent single-site Gibbs chains (site drawn uniformly by single_site_gibbs_step) from a
    uniform start end, after K steps chosen from the exact convergence of the enumerated kernel,
    in states whose empirical law passes scipy.stats.chisquare against pi = e^(-E)/Z (alpha 1e-3)."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    n = n_visible + n_hidden
    T = torch.stack([e.single_site_kernel(i) for i in range(n)]).mean(0)
    K, lam = _burn_in(e, lambda mu: mu @ T, torch.full((2**n,), 2.0**-n, dtype=torch.float64), chains, max_steps)
    if K > max_steps:
        return holds("the chain converges within max_steps", False, f"non-centrality {lam:.3g} after {max_steps} steps")
    g = case.gen()
    x = torch.bernoulli(torch.full((chains, n), 0.5, dtype=case.dtype, device=case.device), generator=g)
    v, h = x[:, :n_visible], x[:, n_visible:]
    step = subject.fn("single_site_gibbs_step")
    for _ in range(K):
        v, h = step(v, h, W, a, b, generator=g)
    counts = torch.bincount(_index(torch.cat([v, h], -1)), minlength=2**n)
    stat, p, nn_ = _chisquare_rows(counts[None], e.pi[None])
    return p_value("final x of independent single-site chains ~ e^(-E)/Z", stat, p, alpha, nn_, "chi-square",
                   f"{chains} chains x {K} steps (start bias: non-centrality {lam:.2g}); false-alarm rate {alpha:g}")


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------
@check(requires=("sample_hiddens", "sample_visibles"), marks=("statistical",))
def rbm_samplers_match_conditionals(subject, case, n_visible: int = 4, n_hidden: int = 3, scale: float = 1.5,
                                    samples_per_state: int = 3000, alpha: float = 1e-3) -> Outcome:
    """sample_hiddens(v) has law p(h|v) = prod_j Bernoulli(p(h_j=1|v)) and sample_visibles(h) law
    p(v|h), jointly over all units (so correlated units fail): chi-square over all 2^n patterns,
    rows summed over every conditioning state (alpha 1e-3 each)."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    g = case.gen()
    out = []
    for name, cond, target, P, arg in (("sample_hiddens", e.V, e.H, e.Ph, b), ("sample_visibles", e.H, e.V, e.Pv, a)):
        x = cond.repeat_interleave(samples_per_state, 0).to(case.device, case.dtype)
        s = subject.fn(name)(x, W, arg, generator=g)
        counts = torch.stack([torch.bincount(c, minlength=len(target))
                              for c in _index(s).reshape(len(cond), samples_per_state)])
        stat, p, n = _chisquare_rows(counts, P)
        out.append(p_value(f"{name} has the enumerated conditional law", stat, p, alpha, n, "chi-square (rows summed)",
                           f"false-alarm rate {alpha:g}"))
    return all_of(*out)


@check(requires=("sample_hiddens", "sample_visibles", "gibbs_step", "single_site_gibbs_step", "cd_k_gradient"))
def rbm_sampling_only_through_generator(subject, case, n_visible: int = 5, n_hidden: int = 4, batch: int = 256) -> Outcome:
    """Every sampler draws only from its generator argument: equal seeds give bitwise-equal
    results, another seed gives different ones, and the global RNG state is left untouched."""
    W, a, b = _toy(case, n_visible, n_hidden, 1.0)
    v, h = case.bernoulli(0.5, batch, n_visible), case.bernoulli(0.5, batch, n_hidden)
    calls = {
        "sample_hiddens": lambda g: subject.fn("sample_hiddens")(v, W, b, generator=g),
        "sample_visibles": lambda g: subject.fn("sample_visibles")(h, W, a, generator=g),
        "gibbs_step": lambda g: torch.cat(subject.fn("gibbs_step")(v, W, a, b, generator=g), -1),
        "single_site_gibbs_step": lambda g: torch.cat(subject.fn("single_site_gibbs_step")(v, h, W, a, b, generator=g), -1),
        "cd_k_gradient": lambda g: subject.fn("cd_k_gradient")(v, W, a, b, k=2, generator=g)[0],
    }

    def gen(seed: int) -> torch.Generator:
        return torch.Generator(case.device).manual_seed(seed)

    def rng_state() -> list[torch.Tensor]:
        return [torch.get_rng_state()] + ([torch.cuda.get_rng_state()] if case.device == "cuda" else [])

    out = []
    for name, f in calls.items():
        before = rng_state()
        r1, r2, r3 = f(gen(case.seed)), f(gen(case.seed)), f(gen(case.seed + 1))
        after = rng_state()
        out += [holds(f"{name}: equal generator seeds give equal results", bool(torch.equal(r1, r2))),
                holds(f"{name}: another seed gives another result", not torch.equal(r1, r3), f"batch {batch}"),
                holds(f"{name}: global RNG state unchanged", all(torch.equal(x, y) for x, y in zip(before, after)))]
    return all_of(*out)


# --------------------------------------------------------------------------------------------
# learning: CD-k and PCD
# --------------------------------------------------------------------------------------------
def _stats(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """<v p(h|v)^T>, <v>, <p(h|v)> over the batch in float64 with scipy's expit (the oracle)."""
    from scipy.special import expit

    v64, W64, b64 = map(f64, (v, W, b))
    p = torch.from_numpy(expit((b64 + v64 @ W64).numpy()))
    return v64.T @ p / len(v64), v64.mean(0), p.mean(0)


@check(requires=("cd_k_gradient", "pcd_step"))
def rbm_cd_update_is_statistics_difference(subject, case, n_visible: int = 6, n_hidden: int = 4, batch: int = 32,
                                           k: int = 2, lr: float = 0.05) -> Outcome:
    """cd_k_gradient returns <v p(h|v)^T>_data - <v_k p(h|v_k)^T>_chain (and the bias analogues)
    for the chain state v_k it returns, and pcd_step moves theta by lr times that difference,
    with the negative statistics taken on its returned persistent chains under the old theta."""
    W, a, b = _toy(case, n_visible, n_hidden, 0.5)
    v = case.bernoulli(0.5, batch, n_visible)
    persistent = case.bernoulli(0.5, batch // 2, n_visible)
    dW, da, db, vk = subject.fn("cd_k_gradient")(v, W, a, b, k=k, generator=case.gen())
    pos, neg = _stats(v, W, b), _stats(vk, W, b)
    W2, a2, b2, chain = subject.fn("pcd_step")(v, persistent, W, a, b, lr, k=k, generator=case.gen())
    negp = _stats(chain, W, b)
    W64, a64, b64 = map(f64, (W, a, b))
    return all_of(
        holds("the returned chain states are binary", bool(((vk == 0) | (vk == 1)).all() and ((chain == 0) | (chain == 1)).all())),
        exact("pcd_step keeps one persistent chain per input chain", tuple(chain.shape), tuple(persistent.shape)),
        case.close("CD dW", dW, pos[0] - neg[0]), case.close("CD da", da, pos[1] - neg[1]),
        case.close("CD db", db, pos[2] - neg[2]),
        case.close("PCD W'", W2, W64 + lr * (pos[0] - negp[0])), case.close("PCD a'", a2, a64 + lr * (pos[1] - negp[1])),
        case.close("PCD b'", b2, b64 + lr * (pos[2] - negp[2])),
    )


@check(requires=("cd_k_gradient",), marks=("statistical",))
def rbm_cd_expected_gradient(subject, case, k: int = 1, persistent: bool = False, n_visible: int = 4, n_hidden: int = 3,
                             scale: float = 1.0, data: int = 8, chunks: int = 200, copies: int = 40) -> Outcome:
    """E[cd_k_gradient] = <v p(h|v)^T>_data - sum_v' T^k(v_0, v') v' p(h|v')^T averaged over the
    chain starts v_0 (the data for CD-k, the given persistent states for PCD), with T the exact
    enumerated block-Gibbs kernel; every entry within 5 s.e. of the mean over independent chunks."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    vd = case.bernoulli(0.5, data, n_visible)
    v0 = case.bernoulli(0.5, data, n_visible) if persistent else vd
    # exact expectation
    pos = _stats(vd, W, b)
    Pk = torch.linalg.matrix_power(e.Tv, k)[_index(v0)]  # (data, 2^n_v): law of v_k per start
    w = Pk.mean(0)  # mixture over starts
    from scipy import stats
    from scipy.special import expit

    p_all = torch.from_numpy(expit((e.b + e.V @ e.W).numpy()))
    want = [pos[0] - (e.V * w[:, None]).T @ p_all, pos[1] - w @ e.V, pos[2] - w @ p_all]
    g = case.gen()
    vd_rep, v0_rep = vd.repeat(copies, 1), v0.repeat(copies, 1)
    draws = [[], [], []]
    for _ in range(chunks):
        r = subject.fn("cd_k_gradient")(vd_rep, W, a, b, k=k, generator=g, **({"v_neg": v0_rep} if persistent else {}))
        for lst, t in zip(draws, r[:3]):
            lst.append(f64(t))
    out = []
    for name, lst, target in zip(("dW", "da", "db"), draws, want):
        d = torch.stack(lst)  # (chunks, ...)
        mean, se = d.mean(0), d.std(0) / math.sqrt(chunks)
        for idx in itertools.product(*(range(s) for s in target.shape)):
            out.append(within_se(f"E[{name}{list(idx)}] ({'PCD' if persistent else 'CD'}-{k})", float(mean[idx]),
                                 float(target[idx]), max(float(se[idx]), 1e-12), chunks))
    res = all_of(*out)
    fa = len(out) * 2 * float(stats.t.sf(5.0, chunks - 1))  # s.e. estimated from the chunks: Student t
    return res if not res.passed else holds(
        f"all {len(out)} entries of E[{'PCD' if persistent else 'CD'}-{k} gradient] within 5 s.e. of the exact expectation",
        True, f"{chunks} chunks x {copies * data} chains; family false-alarm rate < {fa:.1e} (Bonferroni, t with {chunks - 1} df)")


def _exact_mean_loglik(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> float:
    e = _Enum(W, a, b)
    return float(torch.log(e.pv[_index(v)]).mean())


@check(requires=("cd_k_gradient", "pcd_step"), marks=("training",))
def rbm_cd_raises_loglik(subject, case, method: str = "cd", k: int = 1, n_visible: int = 6, n_hidden: int = 3,
                         samples: int = 200, steps: int = 300, lr: float = 0.1, flip: float = 0.05) -> Outcome:
    """Training with CD-k (or PCD) raises the exact mean log-likelihood of toy data (two noisy
    prototypes) above its value at initialisation and above the best independent-unit model
    (W = 0, a = logit of the data means), which an RBM can only beat by learning correlations."""
    half = n_visible // 2
    proto = torch.tensor([[1.0] * half + [0.0] * (n_visible - half), [0.0] * half + [1.0] * (n_visible - half)],
                         dtype=torch.float64)
    which = torch.randint(0, 2, (samples,), generator=case.generator)
    noise = torch.bernoulli(torch.full((samples, n_visible), flip, dtype=torch.float64), generator=case.generator)
    data64 = (proto[which] + noise) % 2
    data = data64.to(case.device, case.dtype)
    W = case.randn(n_visible, n_hidden) * 0.01
    a, b = torch.zeros_like(W[:, 0]), torch.zeros_like(W[0])
    ll0 = _exact_mean_loglik(data, W, a, b)
    m = data64.mean(0).clamp(1e-6, 1 - 1e-6)
    ll_indep = float((data64 * m.log() + (1 - data64) * (1 - m).log()).sum(1).mean())
    g = case.gen()
    persistent = case.bernoulli(0.5, samples, n_visible)
    for _ in range(steps):
        if method == "pcd":
            W, a, b, persistent = subject.fn("pcd_step")(data, persistent, W, a, b, lr, k=k, generator=g)
        else:
            dW, da, db, _ = subject.fn("cd_k_gradient")(data, W, a, b, k=k, generator=g)
            W, a, b = W + lr * dW, a + lr * da, b + lr * db
    ll1 = _exact_mean_loglik(data, W, a, b)
    tag = f"{method.upper()}-{k}, {steps} full-batch steps, lr {lr}"
    return all_of(bound(f"exact mean log-likelihood after {tag}", ll1, ll0, op=">", detail=f"initial {ll0:.4f}"),
                  bound("... and above the best independent-unit model", ll1, ll_indep, op=">", source="exact enumeration"))


# --------------------------------------------------------------------------------------------
# the exact gradient and notes 001's estimator (random start, k burn-in steps, r samples)
# --------------------------------------------------------------------------------------------
def _chain_stats(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-state statistics [v p(h|v)^T (flattened), v, p(h|v)] of binary rows ``x`` (..., V), in
    float64 with scipy's expit: (..., V*H + V + H), the layout of :func:`_flat`."""
    from scipy.special import expit

    v64, W64, b64 = map(f64, (x, W, b))
    p = torch.from_numpy(expit((b64 + v64 @ W64).numpy()))
    return torch.cat([(v64[..., :, None] * p[..., None, :]).flatten(-2), v64, p], -1)


def _flat(dW: torch.Tensor, da: torch.Tensor, db: torch.Tensor) -> torch.Tensor:
    """(dW, da, db) as one float64 vector [dW (row-major), da, db]."""
    return torch.cat([f64(dW).flatten(), f64(da), f64(db)])


def _entry_names(n_v: int, n_h: int) -> list[str]:
    return ([f"dW[{i},{j}]" for i in range(n_v) for j in range(n_h)] + [f"da[{i}]" for i in range(n_v)]
            + [f"db[{j}]" for j in range(n_h)])


def _exact_gradient_oracle(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """d/d(W, a, b) of (1/B) sum_n log p(v_n), log p(v) = logsumexp_h(-E(v,h)) - logsumexp_{v,h}(-E(v,h)),
    every joint state enumerated from the energy's definition, by autograd (float64, CPU), flattened."""
    W, a, b = (f64(t).requires_grad_(True) for t in (W, a, b))
    n_v, n_h = W.shape
    V, H = _bits(n_v), _bits(n_h)
    neg_e = (V @ a)[:, None] + (H @ b)[None, :] + V @ W @ H.T  # (2^V, 2^H)
    vd = f64(v)
    data = (vd @ a)[:, None] + (H @ b)[None, :] + (vd @ W) @ H.T  # (B, 2^H)
    ll = (torch.logsumexp(data, 1) - torch.logsumexp(neg_e.flatten(), 0)).mean()
    return _flat(*torch.autograd.grad(ll, (W, a, b)))


def _consistent(name: str, case, got: torch.Tensor, pos: torch.Tensor, neg_states: torch.Tensor) -> Outcome:
    """The returned estimate equals the data statistics minus the mean statistics of the returned states."""
    return case.close(f"{name}'s (dW, da, db) vs data statistics − mean statistics of its returned chain states",
                      got, pos - neg_states.reshape(-1, neg_states.shape[-1]).mean(0))


@check(requires=("exact_gradient", "log_likelihood"))
def rbm_exact_gradient_matches_autograd(subject, case, n_visible: int = 5, n_hidden: int = 3, batch: int = 16,
                                        scale: float = 1.0) -> Outcome:
    """The exact log-likelihood gradient (notes 001 (iv): the data term E_p(h|v)[v h^T] minus the model
    term E_p(v,h)[v h^T], the latter by enumerating all states) equals autograd of the mean exact
    log-likelihood (1/B) sum_n log p(v_n), log p(v) = -F(v) - log Z with log Z = logsumexp of -E over
    every joint state: the subject's exact_gradient against autograd of an enumeration written here,
    and autograd of the subject's log_likelihood against the same, whose values equal the enumerated
    log p(v); for n_visible > n_hidden and n_visible < n_hidden (both layers get enumerated)."""
    out = []
    for n_v, n_h in ((n_visible, n_hidden), (n_hidden, n_visible)):
        W, a, b = _toy(case, n_v, n_h, scale)
        v = case.bernoulli(0.5, batch, n_v)
        want = _exact_gradient_oracle(v, W, a, b)
        got = _flat(*subject.fn("exact_gradient")(v, W, a, b))
        Wg, ag, bg = (t.clone().requires_grad_(True) for t in (W, a, b))
        ll = subject.fn("log_likelihood")(v, Wg, ag, bg)
        auto = _flat(*torch.autograd.grad(ll.mean(), (Wg, ag, bg)))
        tag = f"V={n_v}, H={n_h}, batch {batch}"
        out += [case.close(f"exact_gradient vs autograd of the enumerated mean log p(v) ({tag})", got, want),
                case.close(f"autograd of log_likelihood vs of the enumerated log p(v) ({tag})", auto, want),
                case.close(f"log_likelihood vs enumerated log p(v) ({tag})", ll, torch.log(_Enum(W, a, b).pv[_index(v)]))]
    return all_of(*out)


@check(requires=("gibbs_gradient",), marks=("statistical",))
def rbm_gibbs_gradient_expectation(subject, case, k: int = 1, r: int = 3, n_visible: int = 4, n_hidden: int = 3,
                                   scale: float = 2.0, data: int = 4, copies: int = 20000) -> Outcome:
    """Notes 001 (iv)'s training algorithm (a block-Gibbs chain per data vector from a uniformly random
    v^(0), k burn-in steps, negative statistics averaged over v^(k+1), ..., v^(k+r)): gibbs_gradient
    returns the data statistics minus the mean statistics of the r binary states it returns per chain,
    and its expectation is <v p(h|v)^T>_data - (1/r) sum_{t=k+1}^{k+r} sum_v' (u T^t)(v') v' p(h|v')^T
    (and the bias analogues), u uniform on {0,1}^V and T the exactly enumerated block-Gibbs kernel:
    every entry of the chains' mean within 5 s.e. (independent chains)."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    vd = case.bernoulli(0.5, data, n_visible)
    v = vd.repeat(copies, 1)  # one chain per row: copies x data independent chains
    dW, da, db, S = subject.fn("gibbs_gradient")(v, W, a, b, k=k, r=r, generator=case.gen())
    shape = exact("returned chain states: (r, chains, V)", tuple(S.shape), (r, len(v), n_visible))
    if not shape.passed:
        return shape
    pos = _chain_stats(vd, W, b).mean(0)
    neg = _chain_stats(S, W, b)  # (r, C, n)
    u = torch.full((len(e.V),), 1.0 / len(e.V), dtype=torch.float64)
    mix = torch.stack([u @ torch.linalg.matrix_power(e.Tv, t) for t in range(k + 1, k + r + 1)]).mean(0)
    want = pos - mix @ _chain_stats(e.V, W, b)
    per_chain = pos - neg.mean(0)  # (C, n): the estimate each chain alone gives
    mean, se = per_chain.mean(0), per_chain.std(0) / math.sqrt(len(v))
    names = _entry_names(n_visible, n_hidden)
    z = [within_se(f"E[{n}] (k={k}, r={r})", float(mean[i]), float(want[i]), max(float(se[i]), 1e-12), len(v))
         for i, n in enumerate(names)]
    res = all_of(*z)
    tail = res if not res.passed else holds(
        f"all {len(z)} entries of E[gibbs_gradient] (k={k}, r={r}) within 5 s.e. of the enumerated expectation", True,
        f"{len(v)} independent chains from uniform starts; family false-alarm rate < {len(z) * 5.8e-7:.1e} (Bonferroni)")
    return all_of(shape, holds("the returned chain states are binary", bool(((S == 0) | (S == 1)).all())),
                  _consistent("gibbs_gradient", case, _flat(dW, da, db), pos, neg), tail)


@check(requires=("gibbs_gradient", "cd_k_gradient"), marks=("statistical",))
def rbm_sampled_gradient_approaches_exact(subject, case, method: str = "gibbs", settings: list = [[1, 1], [4, 4], [16, 16]],  # noqa: B006
                                          n_visible: int = 4, n_hidden: int = 3, scale: float = 2.0, data: int = 4,
                                          estimates: int = 4000) -> Outcome:
    """The sampled gradient approaches the exact gradient of the mean log-likelihood (exact enumeration)
    as the chains lengthen. For notes 001's estimator (``method: gibbs``, gibbs_gradient at each
    (k, r) of ``settings``, one chain per data vector) its mean squared error E||g_hat - grad||^2,
    over independent estimates, falls from each setting to the next by more than 5 s.e. of the
    difference (k shrinks the bias, r the variance); for CD-k (``method: cd``, cd_k_gradient at each
    k) the bias is visible at the smallest k (some entry's mean beyond 5 s.e. of the exact gradient).
    At the largest setting every entry's mean is within 5 s.e. of the exact gradient. The data are
    the ``data`` least probable visible states of the RBM (far from the model: CD's bias at small k
    is large). The estimates are read from the chain states each call returns, which are first
    checked to give the call's own (dW, da, db)."""
    if method not in ("gibbs", "cd"):
        raise ValueError(f"method must be gibbs or cd, got {method!r}")
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    vd = e.V[torch.argsort(e.pv)[:data]].to(case.device, case.dtype)
    grad = _exact_gradient_oracle(vd, W, a, b)
    pos = _chain_stats(vd, W, b).mean(0)
    v = vd.repeat(estimates, 1)  # estimate m uses chains m*data .. m*data + data - 1, one per data vector
    g = case.gen()
    names = _entry_names(n_visible, n_hidden)
    out, mse, zs = [], [], []
    for k, r in settings:
        if method == "gibbs":
            dW, da, db, S = subject.fn("gibbs_gradient")(v, W, a, b, k=k, r=r, generator=g)
            tag = f"k={k}, r={r}"
        else:
            dW, da, db, S = subject.fn("cd_k_gradient")(v, W, a, b, k=k, generator=g)
            S, tag = S[None], f"CD-{k}"
        neg = _chain_stats(S, W, b)  # (r, C, n)
        out.append(_consistent(method, case, _flat(dW, da, db), pos, neg))
        err = pos - neg.mean(0).reshape(estimates, data, -1).mean(1) - grad  # (M, n): g_hat_m - grad
        sq = (err ** 2).sum(1)
        mse.append((float(sq.mean()), float(sq.std() / math.sqrt(estimates)), tag))
        zs.append((err.mean(0) / (err.std(0) / math.sqrt(estimates)).clamp_min(1e-12), tag))
    if method == "gibbs":
        for (m0, s0, t0), (m1, s1, t1) in zip(mse, mse[1:]):
            out.append(bound(f"E||g_hat - grad||^2 falls from {t0} to {t1}, in s.e. of the difference",
                             (m0 - m1) / math.hypot(s0, s1), 5.0, op=">", detail=f"{m0:.4g} -> {m1:.4g}"))
    else:
        z0, t0 = zs[0]
        worst = int(z0.abs().argmax())
        out.append(bound(f"largest |mean error| / s.e. at {t0} (its bias is visible)", float(z0.abs().max()), 5.0,
                         op=">", detail=f"at {names[worst]}"))
    z1, t1 = zs[-1]
    worst = int(z1.abs().argmax())
    out.append(bound(f"largest |mean error| / s.e. over the {len(names)} entries at {t1}", float(z1.abs().max()), 5.0,
                     op="<=", source="5 s.e. (Bonferroni family false-alarm rate < 1.2e-5)",
                     detail=f"at {names[worst]}; {estimates} estimates of {data} chains"))
    return all_of(*out)


# --------------------------------------------------------------------------------------------
# pseudo-likelihood, scikit-learn
# --------------------------------------------------------------------------------------------
@check(requires=("pseudo_likelihood",))
def rbm_pseudo_likelihood_definition(subject, case, n_visible: int = 6, n_hidden: int = 4, batch: int = 32,
                                     scale: float = 1.0) -> Outcome:
    """log PL(v) = sum_i log p(v_i | v_-i), each conditional the ratio p(v) / (p(v) + p(v with i
    flipped)) of enumerated marginals."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    e = _Enum(W, a, b)
    v = case.bernoulli(0.5, batch, n_visible)
    vi = _index(v)
    want = torch.zeros(batch, dtype=torch.float64)
    for i in range(n_visible):
        fi = vi ^ (1 << (n_visible - 1 - i))
        want += torch.log(e.pv[vi] / (e.pv[vi] + e.pv[fi]))
    return case.close("log PL(v) vs enumerated conditionals", subject.fn("pseudo_likelihood")(v, W, a, b), want)


def _sklearn_rbm(W: torch.Tensor, a: torch.Tensor, b: torch.Tensor, seed: int):
    from sklearn.neural_network import BernoulliRBM

    W64, a64, b64 = map(f64, (W, a, b))
    rbm = BernoulliRBM(n_components=W64.shape[1], random_state=seed)
    rbm.components_ = W64.T.numpy().copy()  # scikit-learn stores W^T: (n_components, n_features)
    rbm.intercept_hidden_ = b64.numpy().copy()
    rbm.intercept_visible_ = a64.numpy().copy()
    return rbm


@check(requires=("pseudo_likelihood",), marks=("statistical",))
def rbm_pseudo_likelihood_matches_sklearn(subject, case, n_visible: int = 12, n_hidden: int = 6, batch: int = 64,
                                          copies: int = 1000, scale: float = 1.0) -> Outcome:
    """scikit-learn's BernoulliRBM.score_samples (copied weights) is an unbiased one-unit estimate
    of log PL(v): the mean of score - pseudo_likelihood over many draws is 0 within 5 s.e."""
    W, a, b = _toy(case, n_visible, n_hidden, scale)
    v = case.bernoulli(0.5, batch, n_visible)
    ours = f64(subject.fn("pseudo_likelihood")(v, W, a, b)).repeat(copies)
    sk = torch.from_numpy(_sklearn_rbm(W, a, b, case.seed % 2**31).score_samples(f64(v).repeat(copies, 1).numpy()))
    d = sk - ours
    return within_se("mean of sklearn score_samples - log PL", float(d.mean()), 0.0, float(d.std() / math.sqrt(len(d))), len(d),
                     detail=f"{batch} vectors x {copies} random flipped units")


@check(requires=("pcd_step",), marks=("slow", "training"))
def rbm_digits_pseudo_likelihood_vs_sklearn(subject, case, lr: float = 0.05, epochs: int = 10, batch_size: int = 50,
                                           k: float = 5.0) -> Outcome:
    """PCD-1 training with pcd_step on binarised load_digits reaches a pseudo-likelihood in the same
    range as scikit-learn's BernoulliRBM trained alike (n_components = the subject's n_hidden, same
    learning rate, epochs, batch size, unshuffled even batches, N(0, 0.01^2) initialisation, zero
    biases): both scored by BernoulliRBM.score_samples, the means differ by at most k = 5 standard
    errors of their difference (from the per-image spread of the scores), and ours beats the
    untrained model by more than that.

    The visible layer is the data's: the 64 pixels of load_digits."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.neural_network import BernoulliRBM

    n_hidden = subject.size("n_hidden")
    X = (load_digits().data > 7).astype(np.float64)  # pixels 0..16 -> {0, 1}
    n, n_v = X.shape
    seed = case.seed % 2**31
    sk = BernoulliRBM(n_components=n_hidden, learning_rate=lr, batch_size=batch_size, n_iter=epochs, random_state=seed).fit(X)
    data = case.tensor(X)
    W = case.randn(n_v, n_hidden) * 0.01
    a, b = data.new_zeros(n_v), data.new_zeros(n_hidden)
    g = case.gen()
    persistent = data.new_zeros(batch_size, n_v)  # scikit-learn keeps batch_size persistent chains
    for _ in range(epochs):
        for s in np.array_split(np.arange(n), int(np.ceil(n / batch_size))):  # its gen_even_slices, unshuffled
            # scikit-learn steps by lr * (statistics summed over the batch) / batch size = lr * batch means
            W, a, b, persistent = subject.fn("pcd_step")(data[s[0]:s[-1] + 1], persistent, W, a, b, lr, k=1, generator=g)
    theirs = sk.score_samples(X)
    mine = _sklearn_rbm(W, a, b, seed).score_samples(X)
    untrained = _sklearn_rbm(case.randn(n_v, n_hidden) * 0.01, a.new_zeros(n_v), b.new_zeros(n_hidden), seed).score_samples(X)
    se = math.sqrt(theirs.var(ddof=1) / n + mine.var(ddof=1) / n)
    se_u = math.sqrt(untrained.var(ddof=1) / n + mine.var(ddof=1) / n)
    return all_of(
        bound("|mean score ours - mean score scikit-learn|", abs(float(mine.mean() - theirs.mean())), k * se, op="<=",
              source=f"{k:g} s.e. of the difference of means (per-image s.d. {mine.std():.3g} and {theirs.std():.3g}, n={n})",
              detail=f"ours {mine.mean():.3f}, scikit-learn {theirs.mean():.3f}"),
        bound("mean score ours - untrained", float(mine.mean() - untrained.mean()), k * se_u, op=">",
              source=f"{k:g} s.e. of the difference", detail=f"untrained {untrained.mean():.3f}"),
    )


# --------------------------------------------------------------------------------------------
# the module
# --------------------------------------------------------------------------------------------
@check()
def rbm_module_forward_is_free_energy(subject, case, batch: int = 32) -> Outcome:
    """The RBM module holds W of shape (n_visible, n_hidden), a of shape (n_visible,) and b of
    shape (n_hidden,), and model(v) is the free energy F(v) = -log sum_h e^(-E(v,h)) per sample
    (exact enumeration of the hidden states with the module's parameters)."""
    n_v, n_h = subject.size("n_visible"), subject.size("n_hidden")
    if n_h > MAX_HIDDEN_ENUMERATION:
        raise SubjectError(f"rbm_module_forward_is_free_energy enumerates 2^n_hidden hidden states; n_hidden = {n_h} "
                           f"> {MAX_HIDDEN_ENUMERATION}: set a smaller n_hidden under the property's params")
    model = subject.build(case)
    shapes = [exact("W.shape", tuple(model.W.shape), (n_v, n_h)), exact("a.shape", tuple(model.a.shape), (n_v,)),
              exact("b.shape", tuple(model.b.shape), (n_h,))]
    if not all(o.passed for o in shapes):
        return all_of(*shapes)
    with torch.no_grad():
        for p in (model.W, model.a, model.b):  # away from the near-zero initialisation
            p.copy_(case.randn(*p.shape))
    (v,) = CONTRACT.example_inputs(subject, case, batch)
    out = model(v)
    return all_of(*shapes, exact("model(v).shape", tuple(out.shape), (batch,)),
                  case.close("model(v) vs -logsumexp_h(-E(v,h))", out,
                             -torch.logsumexp(_neg_energies(v, model.W, model.a, model.b), dim=1),
                             detail=f"W {n_v}x{n_h}, batch {batch}"))


@check(requires=("reconstruct",))
def rbm_reconstruct_is_mean_field(subject, case, batch: int = 32) -> Outcome:
    """model.reconstruct(v) is notes 001's forward pass followed by its backward pass, with
    probabilities throughout (no sampling): p(v=1 | h) at h = p(h=1 | v), i.e.
    sigmoid(a + W sigmoid(b + W^T v)) with the module's W, a, b (computed here with scipy's expit in
    float64), of shape (B, n_visible) in v's dtype, every entry in [0, 1]; two calls agree bitwise."""
    from scipy.special import expit

    model = subject.build(case)
    with torch.no_grad():
        for p in (model.W, model.a, model.b):  # away from the near-zero initialisation
            p.copy_(case.randn(*p.shape))
    (v,) = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        got, again = model.reconstruct(v), model.reconstruct(v)
    W, a, b, v64 = (f64(t).numpy() for t in (model.W, model.a, model.b, v))
    want = expit(a + expit(b + v64 @ W) @ W.T)
    return all_of(exact("reconstruct(v): shape and dtype", (tuple(got.shape), got.dtype), ((batch, subject.size("n_visible")), v.dtype)),
                  case.close("reconstruct(v) vs sigmoid(a + W sigmoid(b + W^T v)) (scipy expit)", got, torch.from_numpy(want)),
                  holds("every reconstruction in [0, 1]", bool(((got >= 0) & (got <= 1)).all())),
                  exact("two calls agree bitwise (no sampling)", got, again))


# --------------------------------------------------------------------------------------------
# saturated units, gradients through the steps and estimators, the module's conditionals
# --------------------------------------------------------------------------------------------
@check(requires=("single_site_gibbs_step",))
def rbm_single_site_saturated_units(subject, case, n_visible: int = 3, n_hidden: int = 2, bias: float = 1e4) -> Outcome:
    """A unit whose conditional probability is exactly 0 is never switched on, and one whose probability is
    exactly 1 never off, by the single-site step, for every injected uniform u in [0, 1): u = 0, 1/2 and the
    largest float below 1 (biases of +-1e4 make sigmoid exactly 0 or 1 in float32 and float64); the other
    units are copied."""
    W = case.randn(n_visible, n_hidden) * 0.1
    sign_v = torch.tensor([(-1.0) ** i for i in range(n_visible)], dtype=torch.float64)
    sign_h = torch.tensor([(-1.0) ** (i + 1) for i in range(n_hidden)], dtype=torch.float64)
    a, b = case.tensor(bias * sign_v), case.tensor(bias * sign_h)
    n = n_visible + n_hidden
    X = _bits(n).to(case.device, case.dtype)
    v, h = X[:, :n_visible], X[:, n_visible:]
    want_bits = torch.cat([(sign_v > 0), (sign_h > 0)]).to(torch.float64)  # p(x_i = 1 | x_-i) in {0, 1}
    top = 1.0 - float(torch.finfo(case.dtype).eps) / 2
    step = subject.fn("single_site_gibbs_step")
    out = []
    for site in range(n):
        for u0 in (0.0, 0.5, top):
            u = torch.full((len(X),), u0, dtype=case.dtype, device=case.device)
            v2, h2 = step(v, h, W, a, b, site=site, u=u)
            x2 = f64(torch.cat([v2, h2], -1))
            want = f64(X).clone()
            want[:, site] = want_bits[site]
            out.append(exact(f"site {site} (p = {int(want_bits[site])}), u = {u0:.17g}: every state", x2, want))
    return all_of(*out)


def _rand_weights(shape_like: torch.Tensor) -> torch.Tensor:
    """A fixed non-degenerate weighting of an output's entries (no entry weighted near 0)."""
    R = torch.linspace(-1.5, 1.5, shape_like.numel(), dtype=torch.float64).reshape(shape_like.shape)
    return torch.where(R.abs() < 0.5, R + 2.0, R).to(shape_like.device, shape_like.dtype)


def _grads(value: torch.Tensor, leaves) -> list[torch.Tensor]:
    """Autograd gradients of a scalar (zeros for leaves it does not reach, or when it carries no graph)."""
    if not value.requires_grad:
        return [torch.zeros_like(t) for t in leaves]
    gs = torch.autograd.grad(value, leaves, allow_unused=True, retain_graph=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(gs, leaves)]


@check(requires=("single_site_gibbs_step", "cd_k_gradient", "pcd_step", "gibbs_gradient"))
def rbm_steps_and_estimators_differentiable(subject, case, n_visible: int = 4, n_hidden: int = 3, batch: int = 6,
                                            k: int = 2, lr: float = 0.3) -> Outcome:
    """Sampling carries no gradient, everything else does. The single-site step is
    x' = x + e_i (s − x_i) with s = 1[u < p] piecewise constant, so autograd gives dx'/dx = I − e_i e_iᵀ and
    nothing to (W, a, b). Given the chain states they return, the estimators are the smooth functions
    cd_k_gradient = (<v σ(b + vW)ᵀ> − <v_k σ(b + v_k W)ᵀ>, <v> − <v_k>, <σ(b + vW)> − <σ(b + v_k W)>),
    pcd_step = θ + lr · (the same with the persistent chains) and gibbs_gradient = the same with the r kept
    states of every chain: autograd of a fixed weighted sum of their outputs with respect to (v, W, a, b)
    equals autograd of that formula written here, evaluated on the returned states."""
    W0, a0, b0 = _toy(case, n_visible, n_hidden, 0.7)
    v0 = case.bernoulli(0.5, batch, n_visible)
    h0 = case.bernoulli(0.5, batch, n_hidden)
    out = []
    # the single-site step
    site = torch.arange(batch, device=case.device) % (n_visible + n_hidden)
    u = case.rand(batch)
    v, h, W, a, b = (t.clone().requires_grad_(True) for t in (v0, h0, W0, a0, b0))
    v2, h2 = subject.fn("single_site_gibbs_step")(v, h, W, a, b, site=site, u=u)
    x2 = torch.cat([v2, h2], -1)
    R = _rand_weights(x2)
    gv, gh, gW, ga, gb = _grads((x2 * R).sum(), (v, h, W, a, b))
    keep = torch.ones_like(R)
    keep[torch.arange(batch), site] = 0.0
    out += [case.close("single-site step: d/dv of sum R x' vs R (I − e_i e_iᵀ)", gv, (R * keep)[:, :n_visible]),
            case.close("single-site step: d/dh", gh, (R * keep)[:, n_visible:]),
            case.close("single-site step: no gradient to (W, a, b)", torch.cat([gW.flatten(), ga, gb]),
                       torch.zeros(W.numel() + n_visible + n_hidden, dtype=torch.float64))]

    def stats(x, W, b):
        p = torch.sigmoid(b + x @ W)
        return x.T @ p / x.shape[0], x.mean(0), p.mean(0)

    def compare(name, outputs, formula):
        leaves = (v, W, a, b)
        Rs = [_rand_weights(o) for o in outputs]
        got = _grads(sum((o * r).sum() for o, r in zip(outputs, Rs)), leaves)
        want = _grads(sum((f * r).sum() for f, r in zip(formula, Rs)), leaves)
        return [case.close(f"{name}: d/d{n} vs autograd of the formula on its returned states", g, w_)
                for n, g, w_ in zip(("v", "W", "a", "b"), got, want)]

    v, W, a, b = (t.clone().requires_grad_(True) for t in (v0, W0, a0, b0))
    dW, da, db, vk = subject.fn("cd_k_gradient")(v, W, a, b, k=k, generator=case.gen())
    pos, neg = stats(v, W, b), stats(vk.detach(), W, b)
    out += compare(f"cd_k_gradient (k={k})", (dW, da, db), [p - q for p, q in zip(pos, neg)])
    persistent = case.bernoulli(0.5, batch // 2, n_visible)
    W2, a2, b2, chain = subject.fn("pcd_step")(v, persistent, W, a, b, lr, k=k, generator=case.gen())
    negp = stats(chain.detach(), W, b)
    out += compare("pcd_step", (W2, a2, b2), [t + lr * (p - q) for t, p, q in zip((W, a, b), pos, negp)])
    gW_, ga_, gb_, S = subject.fn("gibbs_gradient")(v, W, a, b, k=1, r=2, generator=case.gen())
    negs = stats(S.detach().reshape(-1, n_visible), W, b)
    out += compare("gibbs_gradient (k=1, r=2)", (gW_, ga_, gb_), [p - q for p, q in zip(pos, negs)])
    return all_of(*out)


@check(requires=("reconstruct",))
def rbm_module_conditionals_differentiable(subject, case, batch: int = 8) -> Outcome:
    """The module's conditionals use its own parameters and pass gradients to them:
    model.mean_hiddens(v) = σ(b + vW) and model.mean_visibles(h) = σ(a + hWᵀ) (scipy's expit), and for a
    fixed weighting C of the outputs autograd gives, with m the output and D = C ⊙ m(1 − m),
    d/dW = vᵀD, d/db = Σ_rows D (hiddens) and d/dW = Dᵀh, d/da = Σ_rows D (visibles)."""
    from scipy.special import expit

    model = subject.build(case)
    with torch.no_grad():
        for p in (model.W, model.a, model.b):
            p.copy_(case.randn(*p.shape))
    n_v, n_h = subject.size("n_visible"), subject.size("n_hidden")
    v, h = case.bernoulli(0.5, batch, n_v), case.bernoulli(0.5, batch, n_h)
    W, a, b = (f64(t).detach().numpy() for t in (model.W, model.a, model.b))
    vn, hn = f64(v).numpy(), f64(h).numpy()
    out = []
    for name, arg, want_m, xs, bias in (("mean_hiddens", v, expit(b + vn @ W), vn, "b"),
                                        ("mean_visibles", h, expit(a + hn @ W.T), hn, "a")):
        m = getattr(model, name)(arg)
        C = _rand_weights(m)
        gW, gbias = _grads((m * C).sum(), (model.W, getattr(model, bias)))
        D = f64(C).numpy() * want_m * (1 - want_m)
        wantW = xs.T @ D if name == "mean_hiddens" else D.T @ xs
        out += [case.close(f"model.{name} vs expit", m, torch.from_numpy(want_m)),
                case.close(f"model.{name}: d/dW", gW, torch.from_numpy(wantW)),
                case.close(f"model.{name}: d/d{bias}", gbias, torch.from_numpy(D.sum(0)))]
    return all_of(*out)
