"""Checks for metric learning: Siamese network, distances, contrastive loss, one-shot matching
(course notes 002, "Siamese Networks").

Label convention under test: y = 1 means SIMILAR (the notes'); a loss written with Hadsell et
al.'s convention (Y = 0 similar) fails :func:`contrastive_similar_half_square` and
:func:`contrastive_dissimilar_beyond_margin`. The distance and loss checks size their own test
vectors (check parameters); the twin-network checks use the suite's sizes.

The learned distance g(h1, h2; θ2) = σ(wᵀ|h1 − h2| + b) (the subject param ``distance: learned``)
makes the network output a similarity probability; fine-tuning only that head on a frozen encoder
is :func:`siamese_fine_tune_frozen_encoder`.
"""
from __future__ import annotations

import copy

import torch

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check

_SCIPY_DISTANCE = {"euclidean": "euclidean", "manhattan": "cityblock", "cosine": "cosine"}
_CORE = {"euclidean": "euclidean_distance", "manhattan": "manhattan_distance", "cosine": "cosine_distance"}


def _pairs(subject, case, batch: int) -> tuple:
    """Two standard-normal input batches x1, x2 (B, in_features)."""
    f = subject.size("in_features")
    return case.randn(batch, f), case.randn(batch, f)


CONTRACT = load_contract("siamese", inputs=_pairs)


def _scipy_rows(name: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """scipy.spatial.distance.<name>(a_i, b_i) row by row, in float64 on the CPU."""
    from scipy.spatial import distance as sd

    fn = getattr(sd, _SCIPY_DISTANCE[name])
    A, B = f64(a).numpy(), f64(b).numpy()
    return torch.tensor([fn(u, v) for u, v in zip(A, B)], dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# distances
# ---------------------------------------------------------------------------------------------
@check(requires=("euclidean_distance", "manhattan_distance", "cosine_distance"))
def siamese_distance_matches_scipy(subject, case, distance: str = "euclidean", rows: int = 64, dim: int = 16) -> Outcome:
    """The Euclidean, Manhattan and cosine distances equal scipy.spatial.distance's euclidean,
    cityblock and cosine (1 − cos) on every row, including identical, zero-offset and
    opposite rows."""
    a, b = case.randn(rows, dim), case.randn(rows, dim)
    b[0] = a[0]              # identical
    b[1] = -a[1]             # opposite direction (cosine distance 2)
    b[2] = 3.0 * a[2]        # same direction (cosine distance 0)
    d = subject.fn(_CORE[distance])(a, b)
    return all_of(
        exact(f"{distance} distance output shape", tuple(d.shape), (rows,)),
        case.close(f"{distance} distance vs scipy.spatial.distance.{_SCIPY_DISTANCE[distance]}",
                   d, _scipy_rows(distance, a, b)),
    )


@check(requires=("euclidean_distance", "manhattan_distance", "cosine_distance"))
def siamese_distance_metric_axioms(subject, case, distance: str = "euclidean", n: int = 256, dim: int = 8) -> Outcome:
    """Euclidean and Manhattan distances are metrics: d(a, a) = 0, d ≥ 0, d(a, b) = d(b, a)
    exactly, d(a, c) ≤ d(a, b) + d(b, c), with equality when b lies on the segment [a, c].
    The cosine distance is symmetric, lies in [0, 2], is 0 for a positive multiple, 1 for
    orthogonal and 2 for opposite vectors (it is not a metric: no triangle inequality)."""
    fn = subject.fn(_CORE[distance])
    a, b, c = case.randn(n, dim), case.randn(n, dim), case.randn(n, dim)
    dab, dba = fn(a, b), fn(b, a)
    out = [exact("symmetry d(a, b) = d(b, a) (bitwise)", dab, dba),
           bound("min d(a, b)", float(dab.min()), 0.0, op=">=")]
    if distance in ("euclidean", "manhattan"):
        dac, dbc = fn(a, c), fn(b, c)
        slack = float(torch.finfo(case.dtype).eps) * 8 * float(f64(dac).max())  # rounding only
        excess = f64(dac - dab - dbc).max().item()
        lam = case.rand(n, 1)
        mid = a + lam * (c - a)  # b on the segment [a, c]: the triangle inequality is tight
        return all_of(
            *out,
            exact("d(a, a) = 0", fn(a, a), torch.zeros(n, dtype=torch.float64)),
            bound("max over triples of d(a, c) − d(a, b) − d(b, c)", excess, slack, op="<=",
                  source="rounding: 8 eps · max d", detail=f"{n} random triples in R^{dim}"),
            case.close("collinear b: d(a, c) = d(a, b) + d(b, c)", fn(a, mid) + fn(mid, c), fn(a, c)),
        )
    orth_a = torch.zeros(2, dim, dtype=case.dtype, device=case.device)
    orth_b = torch.zeros(2, dim, dtype=case.dtype, device=case.device)
    orth_a[0, 0], orth_b[0, 1], orth_a[1, 2], orth_b[1, 5] = 2.0, 3.0, -1.0, 0.5
    return all_of(
        *out,
        bound("max d(a, b)", float(dab.max()), 2.0, op="<="),
        case.close("d(a, 2.5 a) = 0", fn(a, 2.5 * a), torch.zeros(n, dtype=torch.float64)),
        case.close("d(a, −a) = 2", fn(a, -a), torch.full((n,), 2.0, dtype=torch.float64)),
        case.close("d(orthogonal pair) = 1", fn(orth_a, orth_b), torch.ones(2, dtype=torch.float64)),
    )


@check(requires=("euclidean_distance", "manhattan_distance", "cosine_distance"))
def siamese_distance_gradient_closed_form(subject, case, distance: str = "euclidean", rows: int = 32,
                                          dim: int = 7) -> Outcome:
    """The gradients of a distance with respect to both of its arguments (autograd of Σ_r v_r d(a_r, b_r),
    random v) equal the closed forms written here: Euclidean ∇_a = (a − b)/‖a − b‖, Manhattan
    ∇_a = sign(a − b), both with ∇_b = −∇_a; cosine ∇_a = −b/(‖a‖‖b‖) + (a·b) a/(‖a‖³‖b‖) and
    symmetrically for b (rows in general position: no a = b, no zero coordinate of a − b)."""
    fn = subject.fn(_CORE[distance])
    a, b, v = case.randn(rows, dim), case.randn(rows, dim), case.randn(rows)
    ar, br = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    out = (fn(ar, br) * v).sum()
    zeros = torch.zeros(rows, dim, dtype=torch.float64)
    if out.requires_grad:
        ga, gb = torch.autograd.grad(out, (ar, br), allow_unused=True)
        ga, gb = (zeros if g is None else f64(g) for g in (ga, gb))
    else:
        ga, gb = zeros, zeros
    A, B, V = f64(a), f64(b), f64(v).unsqueeze(-1)
    if distance == "euclidean":
        da = (A - B) / (A - B).norm(dim=-1, keepdim=True)
        db = -da
    elif distance == "manhattan":
        da = torch.sign(A - B)
        db = -da
    else:
        na, nb = A.norm(dim=-1, keepdim=True), B.norm(dim=-1, keepdim=True)
        dot = (A * B).sum(-1, keepdim=True)
        da = -B / (na * nb) + dot * A / (na ** 3 * nb)
        db = -A / (na * nb) + dot * B / (na * nb ** 3)
    return all_of(
        case.close(f"∂/∂a Σ v·{distance}(a, b) (autograd) vs the closed form", ga, V * da),
        case.close(f"∂/∂b Σ v·{distance}(a, b) (autograd) vs the closed form", gb, V * db),
    )


# ---------------------------------------------------------------------------------------------
# contrastive loss L = y·½d² + (1 − y)·½max(0, m − d)², y = 1 similar
# ---------------------------------------------------------------------------------------------
@check(requires=("contrastive_loss",))
def contrastive_dissimilar_beyond_margin(subject, case, margin: float = 1.5, n: int = 64) -> Outcome:
    """A dissimilar pair (y = 0) at distance d ≥ m has exactly zero contrastive loss and exactly
    zero gradient ∂L/∂d (autograd), including d = m itself."""
    d = (margin + case.rand(n) * 3.0)
    d[0] = margin  # the boundary itself
    d = d.detach().requires_grad_(True)
    y = torch.zeros(n, dtype=case.dtype, device=case.device)
    loss = subject.fn("contrastive_loss")(d, y, margin, reduction="none")
    (g,) = torch.autograd.grad(loss.sum(), d)
    return all_of(
        exact("loss of dissimilar pairs with d ≥ m", loss, torch.zeros(n, dtype=torch.float64)),
        exact("∂L/∂d of dissimilar pairs with d ≥ m (autograd)", g, torch.zeros(n, dtype=torch.float64)),
    )


@check(requires=("contrastive_loss",))
def contrastive_similar_half_square(subject, case, n: int = 64) -> Outcome:
    """A similar pair (y = 1, the notes' convention) costs L = ½ d², whatever the margin, for
    d on both sides of the margin; ∂L/∂d = d."""
    d = (case.rand(n) * 4.0).requires_grad_(True)
    y = torch.ones(n, dtype=case.dtype, device=case.device)
    loss_fn = subject.fn("contrastive_loss")
    l1 = loss_fn(d, y, 1.0, reduction="none")
    l2 = loss_fn(d, y, 3.0, reduction="none")
    (g,) = torch.autograd.grad(l1.sum(), d)
    half_sq = 0.5 * f64(d) ** 2
    return all_of(
        case.close("L(d, y=1, m=1) = ½ d²", l1, half_sq),
        case.close("L(d, y=1, m=3) = ½ d²", l2, half_sq),
        case.close("∂L/∂d for y=1 (autograd) = d", g, f64(d)),
    )


@check(requires=("contrastive_loss",))
def contrastive_margin_gradient(subject, case, margin: float = 2.0, n: int = 128) -> Outcome:
    """For a dissimilar pair (y = 0) the loss gradient is ∂L/∂d = −(m − d) < 0 for d < m (it
    pushes the pair apart, harder the closer it is) and 0 for d ≥ m; the loss itself is
    ½ (m − d)² below the margin."""
    d = (case.rand(n) * 2.0 * margin).requires_grad_(True)
    y = torch.zeros(n, dtype=case.dtype, device=case.device)
    loss = subject.fn("contrastive_loss")(d, y, margin, reduction="none")
    (g,) = torch.autograd.grad(loss.sum(), d)
    D = f64(d)
    inside = D < margin
    analytic = torch.where(inside, -(margin - D), torch.zeros_like(D))
    return all_of(
        case.close("∂L/∂d (autograd) vs analytic −max(0, m − d)", g, analytic),
        case.close("L(d, y=0) vs ½ max(0, m − d)²", loss, 0.5 * (margin - D).clamp(min=0) ** 2),
        bound("max ∂L/∂d over pairs with d < m", float(f64(g)[inside].max()), 0.0, op="<",
              detail=f"{int(inside.sum())} of {n} pairs inside the margin"),
    )


@check(requires=("contrastive_loss",))
def contrastive_loss_reductions(subject, case, margin: float = 1.0, n: int = 50) -> Outcome:
    """On a mixed batch with labels given as floats, ints or bools, reduction="none" gives the
    per-pair losses y·½d² + (1−y)·½max(0, m−d)² (computed independently in NumPy),
    "sum" their sum and "mean" their average over pairs."""
    import numpy as np

    d = case.rand(n) * 2.0 * margin
    y = case.bernoulli(0.5, n)
    loss_fn = subject.fn("contrastive_loss")
    D, Y = f64(d).numpy(), f64(y).numpy()
    ref = np.array([0.5 * di * di if yi == 1 else 0.5 * max(0.0, margin - di) ** 2 for di, yi in zip(D, Y)])
    swapped = np.array([0.5 * di * di if yi == 0 else 0.5 * max(0.0, margin - di) ** 2 for di, yi in zip(D, Y)])
    return all_of(
        case.close("per-pair losses (reduction='none') vs NumPy", loss_fn(d, y, margin, reduction="none"), ref,
                   alternatives={"the loss with the labels' meaning swapped (y = 1 for dissimilar pairs, "
                                 "Hadsell et al.'s convention)": swapped}),
        case.close("reduction='sum' vs NumPy sum", loss_fn(d, y, margin, reduction="sum"), ref.sum()),
        case.close("reduction='mean' vs NumPy mean", loss_fn(d, y, margin, reduction="mean"), ref.mean()),
        case.close("int labels give the same mean", loss_fn(d, y.long(), margin, reduction="mean"), ref.mean()),
        case.close("bool labels give the same mean", loss_fn(d, y.bool(), margin, reduction="mean"), ref.mean()),
    )


# ---------------------------------------------------------------------------------------------
# the twin network
# ---------------------------------------------------------------------------------------------
def _perturb(model: torch.nn.Module, case, scale: float = 0.3) -> None:
    """Add independent noise to every parameter tensor (breaks any accidental equality of
    two copies of the encoder)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * case.randn(*p.shape))


@check()
def siamese_twins_share_parameters(subject, case, batch: int = 16) -> Outcome:
    """Both twins use one set of parameters: after any perturbation of the module's
    parameters, d(x, x) = 0 for every x and d(x1, x2) = d(x2, x1) bitwise (two separately
    stored encoders, even initialised equal, break both)."""
    model = subject.build(case)
    _perturb(model, case)
    x1, x2 = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        d12, d21, dxx = model(x1, x2), model(x2, x1), model(x1, x1)
    return all_of(
        exact("d(x1, x2) = d(x2, x1) after perturbing θ", d12, d21),
        case.close("d(x, x) = 0 after perturbing θ", dxx, torch.zeros(batch, dtype=torch.float64)),
        bound("min distance of distinct inputs (not trivially 0)", float(f64(d12).min()), 0.0, op=">"),
    )


@check(requires=("embed",))
def siamese_forward_is_distance_of_embeddings(subject, case, batch: int = 32) -> Outcome:
    """model(x1, x2) equals the configured distance (scipy.spatial.distance) between the
    embeddings embed(x1) and embed(x2), on a batch and on extra leading dimensions."""
    model = subject.build(case)
    name = str(subject.size("distance"))
    f = subject.size("in_features")
    x1, x2 = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        d = model(x1, x2)
        ref = _scipy_rows(name, model.embed(x1), model.embed(x2))
        d3 = model(x1.view(4, batch // 4, f), x2.view(4, batch // 4, f))
    return all_of(
        case.close(f"model(x1, x2) vs scipy {_SCIPY_DISTANCE[name]} of the embeddings", d, ref),
        exact("output shape with leading dims (4, B/4)", tuple(d3.shape), (4, batch // 4)),
        case.close("leading dims give the same distances", d3.reshape(-1), d),
    )


@check(requires=("embed",))
def siamese_encoder_architecture(subject, case, batch: int = 16) -> Outcome:
    """The shared encoder is f(x) = W₂ relu(W₁x + b₁) + b₂ (Linear(in_features, hidden) → ReLU →
    Linear(hidden, embed_dim)): its parameters, in order, have the shapes (hidden, in_features), (hidden,),
    (embed_dim, hidden), (embed_dim,) of the suite's sizes, and embed(x) equals torch.nn.Sequential(Linear,
    ReLU, Linear) with those parameters copied, on inputs whose pre-activations take both signs."""
    from torch import nn

    model = subject.build(case)
    i, h, e = (subject.size(k) for k in ("in_features", "hidden", "embed_dim"))
    params = list(model.encoder.parameters())
    shapes = [tuple(p.shape) for p in params]
    want = [(h, i), (h,), (e, h), (e,)]
    if shapes != want:
        return exact("encoder parameter shapes, in order", shapes, want)
    ref = nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, e)).to(device=case.device, dtype=case.dtype)
    with torch.no_grad():
        for q, p in zip(ref.parameters(), params):
            q.copy_(p)
    (x, _) = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        pre = ref[0](x)
        got, oracle = model.embed(x), ref(x)
    return all_of(
        holds("the first layer's pre-activations take both signs", bool((pre > 0).any() and (pre < 0).any())),
        case.close("embed(x) vs nn.Sequential(Linear, ReLU, Linear) with the encoder's parameters", got, oracle),
    )


@check(requires=("contrastive_loss",))
def siamese_contrastive_step_direction(subject, case, lr: float = 1e-5) -> Outcome:
    """One small gradient step on the contrastive loss moves a similar pair closer, moves a
    dissimilar pair inside the margin apart, and leaves a dissimilar pair beyond the margin
    untouched: every parameter gradient is exactly 0."""
    loss_fn = subject.fn("contrastive_loss")
    model = subject.build(case)
    x1, x2 = CONTRACT.example_inputs(subject, case, 1)
    with torch.no_grad():
        d0 = float(model(x1, x2))
    params = list(model.parameters())

    def step(y: float, m: float) -> tuple[float, list[torch.Tensor]]:
        m_ = copy.deepcopy(model)
        ps = list(m_.parameters())
        loss = loss_fn(m_(x1, x2), torch.full((1,), y, dtype=case.dtype, device=case.device), m)
        grads = torch.autograd.grad(loss, ps, allow_unused=True)
        with torch.no_grad():
            for p, g in zip(ps, grads):
                if g is not None:
                    p.sub_(lr * g)
            return float(m_(x1, x2)), grads

    d_sim, _ = step(1.0, d0 * 2.0)  # margin irrelevant for y = 1; a swapped convention would push apart
    inner = d0 * 2.0  # a margin beyond the current distance: the pair is inside it
    d_push, _ = step(0.0, inner)
    outer = d0 * 0.5  # a margin below the current distance: the pair is beyond it
    d_out, g_out = step(0.0, outer)
    zero = all(g is None or bool((g == 0).all()) for g in g_out)
    return all_of(
        bound("similar pair: d after step − d before", d_sim - d0, 0.0, op="<", detail=f"d0 = {d0:.6g}, lr = {lr:g}"),
        bound("dissimilar, d < m: d after step − d before", d_push - d0, 0.0, op=">", detail=f"m = {inner:.6g}"),
        holds("dissimilar, d ≥ m: every parameter gradient is exactly 0", zero,
              detail=f"{len(params)} parameter tensors, m = {outer:.6g}, d = {d0:.6g}"),
        exact("dissimilar, d ≥ m: distance unchanged by the step", d_out, d0),
    )


# ---------------------------------------------------------------------------------------------
# training: N-way one-shot matching on digits
# ---------------------------------------------------------------------------------------------
def _class_table(y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    counts = torch.bincount(y, minlength=k)
    table = torch.zeros((k, int(counts.max())), dtype=torch.long)
    for c in range(k):
        idx = torch.nonzero(y == c).flatten()
        table[c, : len(idx)] = idx
    return table, counts


@check(requires=("contrastive_loss", "one_shot_predict"), marks=("slow", "training", "statistical"))
def siamese_one_shot_accuracy(subject, case, n_way: int = 5, episodes: int = 1000, steps: int = 100,
                              batch: int = 256, lr: float = 5e-3, margin: float = 2.0, alpha: float = 1e-3) -> Outcome:
    """Trained with the contrastive loss on pairs of digits (scikit-learn load_digits, half the
    samples), the twin network's N-way 1-shot accuracy on the held-out half is above chance
    1/N (one-sided exact binomial test) and above the untrained network's on the same episodes
    (exact McNemar test on the discordant episodes), each at level alpha.

    False-alarm rate: under a correct implementation the p-values are far below alpha; the test
    rejects a loss with the label convention swapped, which trains the net towards chance.
    The data fix the input width: 64 pixels per digit."""
    from scipy.stats import binomtest
    from sklearn.datasets import load_digits

    if subject.size("in_features") != 64:
        return exact("in_features fits load_digits (8×8 images)", subject.size("in_features"), 64)
    X_np, y_np = load_digits(return_X_y=True)
    X = torch.as_tensor(X_np / 16.0, dtype=case.dtype, device=case.device)
    y = torch.as_tensor(y_np, dtype=torch.long)
    k = 10
    g = case.generator
    perm = torch.randperm(len(y), generator=g)
    tr, te = perm[: len(y) // 2], perm[len(y) // 2:]
    t_tab, t_cnt = _class_table(y[tr], k)
    e_tab, e_cnt = _class_table(y[te], k)

    def draw(tab, cnt, cls, offset=None):
        pos = (torch.rand(cls.shape, generator=g, dtype=torch.float64) * cnt[cls]).long()
        if offset is not None:  # a different position in the same class
            pos = (offset + 1 + (torch.rand(cls.shape, generator=g, dtype=torch.float64) * (cnt[cls] - 1)).long()) % cnt[cls]
        return tab[cls, pos], pos

    # fixed evaluation episodes: N distinct classes, one support each, a distinct query sample
    cls = torch.argsort(torch.rand(episodes, k, generator=g), dim=1)[:, :n_way]  # (E, N)
    sup_idx, sup_pos = draw(e_tab, e_cnt, cls)
    target = torch.randint(0, n_way, (episodes,), generator=g)
    rows = torch.arange(episodes)
    q_idx, _ = draw(e_tab, e_cnt, cls[rows, target], offset=sup_pos[rows, target])
    Xe = X[te]
    query, support = Xe[q_idx], Xe[sup_idx]  # (E, F), (E, N, F)
    tgt = target.to(case.device)
    predict = subject.fn("one_shot_predict")
    loss_fn = subject.fn("contrastive_loss")

    model = subject.build(case)
    with torch.no_grad():
        before = (predict(model, query, support) == tgt).cpu()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    Xt, yt = X[tr], y[tr]
    for _ in range(steps):
        i = torch.randint(0, len(yt), (batch,), generator=g)
        same = torch.rand(batch, generator=g) < 0.5
        c2 = torch.where(same, yt[i], (yt[i] + torch.randint(1, k, (batch,), generator=g)) % k)
        j, _ = draw(t_tab, t_cnt, c2)
        label = same.to(device=case.device, dtype=case.dtype)  # 1 = similar
        loss = loss_fn(model(Xt[i], Xt[j]), label, margin, reduction="mean")
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = (predict(model, query, support) == tgt).cpu()
    hits = int(after.sum())
    p_chance = binomtest(hits, episodes, 1.0 / n_way, alternative="greater").pvalue
    gained, lost = int((after & ~before).sum()), int((before & ~after).sum())
    p_mcnemar = binomtest(gained, gained + lost, 0.5, alternative="greater").pvalue if gained + lost else 1.0
    acc0 = float(before.double().mean())
    return all_of(
        bound(f"{n_way}-way 1-shot accuracy: binomial p-value against chance 1/{n_way}", p_chance, alpha, op="<",
              source=f"one-sided exact binomial test, alpha = {alpha:g}",
              detail=f"accuracy {hits / episodes:.3f} over {episodes} held-out episodes after {steps} steps"),
        bound("trained vs untrained on the same episodes: McNemar exact p-value", p_mcnemar, alpha, op="<",
              source=f"one-sided exact McNemar test, alpha = {alpha:g}",
              detail=f"untrained accuracy {acc0:.3f}, trained {hits / episodes:.3f}; gained {gained}, lost {lost}"),
    )


@check(requires=("one_shot_predict", "n_way_one_shot_accuracy", "euclidean_distance"))
def siamese_one_shot_accuracy_definition(subject, case, episodes: int = 200, n_way: int = 5, features: int = 6) -> Outcome:
    """N-way one-shot prediction and accuracy are their definitions: one_shot_predict gives, per episode,
    the index of the support example nearest to the query (numpy argmin over scipy.spatial.distance's
    euclidean), and n_way_one_shot_accuracy is the fraction of episodes whose prediction is the target
    (sklearn.metrics.accuracy_score): on random episodes with random targets, on targets set to the
    nearest example (accuracy 1) and on targets set off it (accuracy 0)."""
    import numpy as np
    from scipy.spatial import distance as sd
    from sklearn.metrics import accuracy_score

    dist = subject.fn("euclidean_distance")
    query, support = case.randn(episodes, features), case.randn(episodes, n_way, features)
    q, s = f64(query).numpy(), f64(support).numpy()
    nearest = np.array([np.argmin([sd.euclidean(q[e], s[e, n]) for n in range(n_way)]) for e in range(episodes)])
    target = case.randint(0, n_way, (episodes,))
    pred = subject.fn("one_shot_predict")(dist, query, support)
    acc = subject.fn("n_way_one_shot_accuracy")
    best = torch.as_tensor(nearest, device=case.device)
    out = [exact("one_shot_predict vs argmin of scipy euclidean distances", pred.cpu().tolist(), nearest.tolist())]
    for label, t in (("random targets", target), ("targets = nearest", best), ("targets off the nearest", (best + 1) % n_way)):
        want = accuracy_score(t.cpu().numpy(), nearest)
        out.append(case.close(f"n_way_one_shot_accuracy, {label}", acc(dist, query, support, t), want,
                              detail=f"{episodes} episodes, {n_way}-way"))
    return all_of(out)


# ---------------------------------------------------------------------------------------------
# learned distance g(h1, h2; θ2), probability output, fine-tuning the final layers
# ---------------------------------------------------------------------------------------------
@check(requires=("learned_similarity",))
def siamese_learned_similarity_matches_torch(subject, case, rows: int = 64, dim: int = 12) -> Outcome:
    """The learned distance g(h1, h2; θ2) = σ(wᵀ|h1 − h2| + b) equals torch.sigmoid(torch.nn.functional.linear)
    of the absolute difference, lies in [0, 1], is symmetric in (h1, h2) bitwise, gives σ(b) at h1 = h2,
    and its gradient with respect to w is p(1 − p)|h1 − h2| (closed form vs autograd)."""
    from torch.nn import functional as F

    g = subject.fn("learned_similarity")
    h1, h2 = case.randn(rows, dim) * 2.0, case.randn(rows, dim) * 2.0
    w = (case.randn(1, dim) * 0.5).requires_grad_(True)
    b = case.randn(1)
    p = g(h1, h2, w, b)
    (gw,) = torch.autograd.grad(p.sum(), w)
    H1, H2, W, B = f64(h1), f64(h2), f64(w), f64(b)
    want = torch.sigmoid(F.linear((H1 - H2).abs(), W, B)).squeeze(-1)
    P = f64(p)
    return all_of(
        exact("shape of g(h1, h2; θ2)", tuple(p.shape), (rows,)),
        case.close("g vs torch.sigmoid(F.linear(|h1 − h2|, w, b))", p, want),
        holds("0 ≤ g ≤ 1", bool(((P >= 0) & (P <= 1)).all())),
        exact("g(h1, h2) = g(h2, h1) (bitwise)", p, g(h2, h1, w, b)),
        case.close("g(h, h) = σ(b)", g(h1, h1, w, b), torch.sigmoid(B).expand(rows)),
        case.close("∂Σg/∂w (autograd) vs Σ p(1 − p)|h1 − h2|", gw, ((P * (1 - P)).unsqueeze(-1) * (H1 - H2).abs()).sum(0, keepdim=True)),
    )


@check(requires=("embed",))
def siamese_probability_output(subject, case, batch: int = 32) -> Outcome:
    """A Siamese network with a learned distance outputs the probability that a pair is similar:
    model(x1, x2) = σ(head(|embed(x1) − embed(x2)|)) (torch.nn.Linear with the head's weights copied,
    torch.sigmoid), in [0, 1], symmetric in (x1, x2) bitwise, σ(b) for x1 = x2, and a binary
    cross-entropy loss on it sends a nonzero gradient to both θ2 (the head) and θ1 (the encoder)."""
    from torch import nn

    model = subject.build(case)
    x1, x2 = CONTRACT.example_inputs(subject, case, batch)
    head = model.head
    twin = nn.Linear(head.in_features, 1, dtype=torch.float64)
    with torch.no_grad():
        twin.weight.copy_(f64(head.weight))
        twin.bias.copy_(f64(head.bias))
    p = model(x1, x2)
    with torch.no_grad():
        want = torch.sigmoid(twin((f64(model.embed(x1)) - f64(model.embed(x2))).abs())).squeeze(-1)
        p21, pxx = model(x2, x1), model(x1, x1)
    y = case.bernoulli(0.5, batch)
    loss = -(y * torch.log(p) + (1 - y) * torch.log1p(-p)).mean()  # BCE, written out (no range assertion)
    enc = list(model.encoder.parameters())
    grads = torch.autograd.grad(loss, list(head.parameters()) + enc, allow_unused=True)
    nonzero = [g is not None and bool(g.abs().sum() > 0) for g in grads]
    P = f64(p)
    return all_of(
        exact("output shape", tuple(p.shape), (batch,)),
        case.close("model(x1, x2) vs torch.sigmoid(nn.Linear(|f(x1) − f(x2)|)) with the head copied", p, want),
        holds("0 ≤ model(x1, x2) ≤ 1", bool(((P >= 0) & (P <= 1)).all())),
        exact("model(x1, x2) = model(x2, x1) (bitwise)", p.detach(), p21),
        case.close("model(x, x) = σ(b)", pxx, torch.sigmoid(f64(head.bias)).expand(batch)),
        holds("BCE gradient reaches the head θ2 (weight, bias)", all(nonzero[:2])),
        holds("BCE gradient reaches the encoder θ1 (its first layer)", nonzero[2]),
    )


@check(requires=("freeze_encoder", "embed"))
def siamese_fine_tune_frozen_encoder(subject, case, batch: int = 32, lr: float = 0.5) -> Outcome:
    """Fine-tuning only the final layers: after freeze_encoder(model), one SGD step over all of
    model.parameters() on a binary cross-entropy loss leaves every encoder parameter (θ1) bitwise
    unchanged with gradient None (and embed(x) unchanged), while every head parameter (θ2) gets the same
    gradient as in the unfrozen model (autograd on a copy) and moves. freeze_encoder returns the
    parameters still trainable: the head's own tensors (by identity), so an optimiser built on its
    result trains the head."""
    from torch.nn import functional as F

    model = subject.build(case)
    full = copy.deepcopy(model)
    x1, x2 = CONTRACT.example_inputs(subject, case, batch)
    y = case.bernoulli(0.5, batch)
    trainable = subject.fn("freeze_encoder")(model)
    enc_before = [f64(p).clone() for p in model.encoder.parameters()]
    head_before = [f64(p).clone() for p in model.head.parameters()]
    with torch.no_grad():
        e_before = f64(model.embed(x1))
    F.binary_cross_entropy(full(x1, x2), y).backward()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    F.binary_cross_entropy(model(x1, x2), y).backward()
    head_grads = [f64(p.grad) if p.grad is not None else None for p in model.head.parameters()]
    enc_grads_none = all(p.grad is None for p in model.encoder.parameters())
    opt.step()
    with torch.no_grad():
        e_after = f64(model.embed(x1))
    head_ids = [id(p) for p in model.head.parameters()]
    returned = [id(p) for p in trainable] if isinstance(trainable, (list, tuple)) else None
    outs = [holds("every encoder gradient is None after backward", enc_grads_none,
                  detail=f"{len(enc_before)} encoder tensors"),
            holds("freeze_encoder returns the head's parameters themselves (the same tensors)",
                  returned is not None and sorted(returned) == sorted(head_ids),
                  detail=f"returned {type(trainable).__name__}" + ("" if returned is None else f" of {len(returned)}, "
                         f"{sum(i in head_ids for i in returned)} of them the head's {len(head_ids)}"))]
    outs += [exact(f"encoder parameter {i} after the step", f64(p), b)
             for i, (p, b) in enumerate(zip(model.encoder.parameters(), enc_before))]
    outs.append(exact("embed(x) after the step", e_after, e_before))
    for i, (p, b, g, gf) in enumerate(zip(model.head.parameters(), head_before, head_grads, full.head.parameters())):
        outs.append(holds(f"head parameter {i} has a gradient", g is not None))
        if g is not None:
            outs.append(case.close(f"head gradient {i} vs the unfrozen model's (autograd)", g, f64(gf.grad)))
        outs.append(holds(f"head parameter {i} moved", not torch.equal(f64(p), b)))
    return all_of(outs)
