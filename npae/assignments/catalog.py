"""The exercises: npae's own functions, each with the forward that judges it.

An exercise id is the import path ``module:qualname`` of a function of npae
(``npae.penalties:kl_sparsity_grad``, ``npae.losses:BernoulliLoss.grad``). Each
declares

* ``cases``: how to draw valid random inputs — away from kinks, ties and saturation,
  and away from points where a common mistake coincides with the truth (log σ² = 0,
  where std = std²; ρ̂_j = ρ, where the KL gradient is 0) — plus named special cases
  at exactly those points, where correct code must pass too;
* for a backward exercise, ``oracle(case) -> (forward, inputs, names)``: the reference
  forward whose central differences judge the answer (npae.gradcheck.check_vjp), and
  ``grads(out, case, G)``, how the function's return maps onto one gradient per input;
  for a forward exercise, reference values at the random cases;
* ``hidden`` checks for what finite differences cannot judge (the KL clamp, the L1
  subgradient at 0, no overflow at |a| = 800), judged against the reference's output
  (never shown) or a property, and public ``properties``;
* its answer, for the build to take out of the hand-out and its leak checks to look
  for: ``tags``, the equations of its module that state it, and ``answer_tags``, the
  equations of other files that restate it (``{"npae/models/autoencoder.py": ("B8",)}``),
  all redacted to "(B8): derive this — question q1"; ``redact``, docstring lines that
  state it untagged; ``also_stub``, the helpers of its module that the student writes
  with it; ``same_as``, every other function that computes the same thing
  (``"npae.gmm:GaussianMixture.predict_proba"``; ``qualname`` alone for its own
  module), stubbed, or given a body that goes through the exercise (a pair
  ``(id, body)``); and for a method, ``leak_state``, the attributes that make its class's
  other methods usable on the public case (the numerical leak check calls them).
* optionally ``latex``: the question as an equation for the homework notebook (the
  forward it differentiates and what to derive, never the result).

Nothing here holds an answer: this module ships in the student build, where every
``npae`` import below resolves to the student's code. The known mistakes are in
:mod:`.mutants` (teacher side only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import conv, layers, losses, network, noise, normalization, penalties
from ..models import vae
from .worker import Call, Obj, Ref

__all__ = ["CATALOG", "Call", "Case", "Check", "Exercise", "ModelCheck", "Obj", "Ref", "exercise",
           "get_exercise"]


@dataclass(frozen=True)
class Case:
    """A named way to draw valid inputs: ``draw(rng) -> dict``."""

    label: str
    draw: Callable


@dataclass(frozen=True)
class Check:
    """A hidden or property check: inputs from ``draw``, ``judge(out, ref, case)`` returns
    None when it passes, else a one-line reason that never shows expected values."""

    label: str
    draw: Callable
    judge: Callable
    errstate: str | None = None


@dataclass(frozen=True)
class ModelCheck:
    """A whole model that uses the exercise: ``check_gradients`` of every parameter of
    ``cls(**kwargs)`` (float64) on a batch of ``batch`` × ``n_features`` in (0, 1), the
    gradients from the build under test, the loss from the reference."""

    label: str
    cls: str
    kwargs: dict
    n_features: int = 6
    batch: int = 5
    noise: bool = False


@dataclass(frozen=True)
class Exercise:
    id: str
    equations: str
    summary: str
    cases: tuple
    call: Callable                       # (case, G) -> Call
    oracle: Callable | None = None       # backward: case -> (forward, inputs, names)
    grads: Callable | None = None        # backward: (out, case, G) -> one gradient per input
    hidden: tuple = ()
    properties: tuple = ()
    tags: tuple = ()                     # equation tags of the module that give it away
    redact: tuple = ()                   # (regex, replacement) on docstring lines
    also_stub: tuple = ()                # qualnames in the module that would give it away
    uses: tuple = ()                     # exercise ids its oracle or calls depend on
    factors: Callable | None = None      # case -> constants the diagnosis may name
    model: ModelCheck | None = None      # a whole-model check, counted once units pass
    outputs: tuple = ()                  # forward: the names of a tuple return's items
    latex: str = ""                      # what to derive, in LaTeX: never the answer
    answer_tags: tuple = ()              # {file: tags} restating it (kept as pairs)
    same_as: tuple = ()                  # other functions computing it: ids or (id, body)
    leak_state: Callable | None = None   # case -> attributes of a usable instance (methods)

    def __post_init__(self):
        pairs = self.answer_tags.items() if isinstance(self.answer_tags, dict) \
            else self.answer_tags                # a dict in, pairs kept (hashable)
        object.__setattr__(self, "answer_tags", tuple((path, tuple(tags))
                                                      for path, tags in pairs))

    @property
    def module(self):
        return self.id.split(":")[0]

    @property
    def qualname(self):
        return self.id.split(":")[1]

    @property
    def name(self):
        return self.qualname

    @property
    def same_as_ids(self):
        """``{module:qualname: body or None}`` of :attr:`same_as`."""
        found = {}
        for entry in self.same_as:
            target, body = (entry, None) if isinstance(entry, str) else entry
            found[target if ":" in target else f"{self.module}:{target}"] = body
        return found

    @property
    def kind(self):
        return "backward" if self.oracle is not None else "forward"

    @property
    def checked(self):
        what = ("finite differences of the reference forward" if self.kind == "backward"
                else "reference values")
        extra = [c.label for c in self.cases[1:]]
        parts = [what + (f" (also at {', '.join(extra)})" if extra else "")]
        parts += [f"hidden: {c.label}" for c in self.hidden]
        parts += [f"property: {c.label}" for c in self.properties]
        if self.model is not None:
            parts.append(f"model: {self.model.label} (counts once the unit checks pass)")
        return "; ".join(parts)


CATALOG: dict = {}


def exercise(**kw):
    """Add an :class:`Exercise` to :data:`CATALOG` (the teacher's own exercises too)."""
    ex = Exercise(**kw)
    if ":" not in ex.id:
        raise ValueError(f"an exercise id is 'module:qualname', got {ex.id!r}")
    CATALOG[ex.id] = ex
    return ex


def get_exercise(exercise_id):
    try:
        return CATALOG[exercise_id]
    except KeyError:
        raise ValueError(f"unknown exercise {exercise_id!r}; `python -m npae assignment list` "
                         f"shows the catalog") from None


# whole models for the model checks (float64, small, smooth activations)
_SPARSE_MODEL = ModelCheck("a KL-sparse autoencoder (sigmoid, 6-5-6)",
                           "npae.models.regularized:SparseAutoencoder",
                           dict(hidden_layer_sizes=(5,), activation="sigmoid",
                                sparsity_weight=3.0, sparsity_target=0.1))
_CAE_MODEL = ModelCheck("a contractive autoencoder (sigmoid, 6-4-6)",
                        "npae.models.regularized:ContractiveAutoencoder",
                        dict(hidden_layer_sizes=(4,), activation="sigmoid",
                             contractive_weight=0.5))
_VAE_MODEL = ModelCheck("a VAE (tanh, 6-5-3), ε held fixed", "npae.models.vae:VAE",
                        dict(hidden_layer_sizes=(5,), latent_dim=3, activation="tanh"),
                        noise=True)


# -- drawing helpers --------------------------------------------------------------------

def _away(rng, shape, low, high):
    """Uniform magnitudes in [low, high) with random signs: never within ``low`` of 0."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def _scalar(G, out):
    return np.asarray(G) * out                          # L = G · R for a scalar R


def _same(out, ref, case, rtol=1e-10, atol=1e-13):
    """Hidden-check judge: the output matches the reference (values never shown)."""
    a, r = np.asarray(out, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if a.shape != r.shape:
        return f"returned shape {a.shape}, expected {r.shape}"
    if (~np.isfinite(a) & np.isfinite(r)).any():
        return "returned inf or NaN"
    if not np.allclose(a, r, rtol=rtol, atol=atol, equal_nan=True):
        return "values differ from the reference"
    return None


def _pair_same(out, ref, case):
    return _same(out[0], ref[0], case) or _same(out[1], ref[1], case)


# -- layers ------------------------------------------------------------------------------

def _dense_case(rng):
    return dict(X=rng.standard_normal((5, 4)), W=rng.standard_normal((4, 3)),
                b=rng.standard_normal(3))


exercise(
    id="npae.layers:dense_backward", equations="(B1)-(B3)",
    summary="the gradients of A = X W + b with respect to X, W and b, given dA",
    cases=(Case("random", _dense_case),),
    oracle=lambda c: (layers.dense_forward, [c["X"], c["W"], c["b"]], ["X", "W", "b"]),
    call=lambda c, G: Call("npae.layers:dense_backward", (G, c["X"], c["W"])),
    grads=lambda out, c, G: (out[0], out[1], out[2]),
    tags=("B1", "B2", "B3"),
    latex=r"A = X W + \mathbf{1} b^\top \quad (B, n_\text{out}); \qquad \text{given } "
          r"\frac{\partial L}{\partial A}, \text{ derive } \frac{\partial L}{\partial X},\ "
          r"\frac{\partial L}{\partial W},\ \frac{\partial L}{\partial b}",
    answer_tags={"npae/models/autoencoder.py": ("B2", "B4")})


def _activation(cls, forward, draw_sd=1.5, redact=(), uses=(), latex=""):
    name = cls.__name__

    def case(rng):
        return dict(a=rng.normal(0.0, draw_sd, (4, 5)))

    exercise(
        id=f"npae.layers:{name}.backward", equations=f"{name.lower()}'(a)",
        summary=f"dL/da = dh ⊙ f'(a) for h = {name.lower()}(a), written through a or h",
        cases=(Case("random", case),),
        oracle=lambda c: (forward, [c["a"]], ["a"]),
        call=lambda c, G: Call(f"npae.layers:{name}.backward", (G, c["a"], forward(c["a"]))),
        grads=lambda out, c, G: (out,), redact=redact, uses=uses,
        latex=(rf"h = {latex}, \qquad \frac{{\partial L}}{{\partial a}} = "
               r"\frac{\partial L}{\partial h} \odot f'(a); \quad \text{derive } f'(a) "
               r"\text{, written through } a \text{ or } h"))


_activation(layers.Sigmoid, layers.sigmoid, uses=("npae.layers:sigmoid",),
            redact=((r"(sigmoid .*f'\(a\) = ).*", r"\1derive this"),),
            latex=r"f(a) = \sigma(a) = \frac{1}{1 + e^{-a}}")
_activation(layers.Tanh, np.tanh, redact=((r"(tanh .*f'\(a\) = ).*", r"\1derive this"),),
            latex=r"f(a) = \tanh(a)")
_activation(layers.Softplus, layers.softplus, uses=("npae.layers:sigmoid",),
            redact=((r"(softplus .*f'\(a\) = ).*", r"\1derive this"),),
            latex=r"f(a) = \operatorname{softplus}(a) = \log(1 + e^{a})")


def _sigmoid_case(rng):
    return dict(a=rng.normal(0.0, 6.0, (5, 4)))


def _extreme_case(rng):
    return dict(a=np.array([[-800.0, -40.0, 0.0, 40.0, 800.0]]))


def _in_unit_interval(out, ref, case):
    h = np.asarray(out)
    if h.shape != case["a"].shape:
        return f"returned shape {h.shape}, expected {case['a'].shape}"
    return None if ((h >= 0) & (h <= 1)).all() else "σ(a) left [0, 1]"


exercise(
    id="npae.layers:sigmoid", equations="the stable σ(a)",
    summary="σ(a) = 1/(1+e^{−a}) that never overflows, for pre-activations of any size",
    cases=(Case("random", _sigmoid_case),),
    call=lambda c, G=None: Call("npae.layers:sigmoid", (c["a"],), errstate="raise"),
    hidden=(Check("|a| = 800 and 40 (no overflow, no NaN, exact limits)", _extreme_case, _same,
                  errstate="raise"),),
    properties=(Check("values in [0, 1]", _sigmoid_case, _in_unit_interval),),
    latex=r"\sigma(a) = \frac{1}{1 + e^{-a}} \quad \text{for every } a \in \mathbb{R} "
          r"\text{ (e.g. } |a| = 800\text{), with no overflow and no NaN}")


def _lse_case(rng):
    return dict(a=rng.normal(0.0, 3.0, (4, 6)))


def _lse_extreme(rng):
    a = rng.normal(0.0, 1.0, (3, 4)) + np.array([[1000.0], [-1000.0], [0.0]])
    a[2] = -np.inf
    return dict(a=a)


def _lse_bound(out, ref, case):
    a, s = case["a"], np.asarray(out)
    if s.shape != a.shape[:-1]:
        return f"returned shape {s.shape}, expected {a.shape[:-1]}"
    m = a.max(axis=-1)
    ok = (s >= m - 1e-12) & (s <= m + np.log(a.shape[-1]) + 1e-12)
    return None if ok.all() else "max(a) ≤ logsumexp(a) ≤ max(a) + log n does not hold"


exercise(
    id="npae.layers:logsumexp", equations="log Σ exp(a) = m + log Σ exp(a − m)",
    summary="log Σ exp(a) along an axis without overflow; −inf for a slice of −inf",
    cases=(Case("random", _lse_case),),
    call=lambda c, G=None: Call("npae.layers:logsumexp", (c["a"],), errstate="raise"),
    hidden=(Check("rows at ±1000 and a row of −inf", _lse_extreme, _same),),
    properties=(Check("max(a) ≤ logsumexp(a) ≤ max(a) + log n", _lse_case, _lse_bound),),
    latex=r"\operatorname{logsumexp}(a) = \log \sum_i e^{a_i} \quad \text{along the last "
          r"axis, without overflow at } a_i = \pm 1000\text{; } -\infty \text{ when every } "
          r"a_i = -\infty")


# -- losses ------------------------------------------------------------------------------

def _loss_case(rng):
    return dict(A=rng.normal(0.0, 2.0, (5, 4)), X=rng.uniform(0.0, 1.0, (5, 4)))


def _loss_exercise(cls, tags, also_stub, uses=(), latex=""):
    name = cls.__name__
    exercise(
        id=f"npae.losses:{name}.grad", equations=", ".join(f"({t})" for t in tags),
        summary=f"∂ℒ/∂A of the {cls.name} loss, summed over features and averaged over B",
        cases=(Case("random", _loss_case),),
        oracle=lambda c: ((lambda A: cls.value(A, c["X"])), [c["A"]], ["A"]),
        call=lambda c, G: Call(f"npae.losses:{name}.grad", (c["A"], c["X"])),
        grads=lambda out, c, G: (_scalar(G, out),), tags=tags, also_stub=also_stub,
        uses=uses, latex=latex + r", \qquad \text{derive } \frac{\partial \mathcal{L}}"
                                 r"{\partial A} \quad (B, D)")


_loss_exercise(losses.GaussianLoss, ("B1", "B2"), ("GaussianLoss.target_grad",),
               latex=r"\mathcal{L} = \frac{1}{B} \sum_n \tfrac{1}{2} \lVert A_n - X_n "
                     r"\rVert^2")
_loss_exercise(losses.BernoulliLoss, ("B3",), ("_bce_grad",),
               uses=("npae.layers:sigmoid",),
               latex=r"\mathcal{L} = \frac{1}{B} \sum_{n,d} \left[\operatorname{softplus}"
                     r"(A_{nd}) - X_{nd} A_{nd}\right]")


# -- penalties ---------------------------------------------------------------------------

def _wd_case(rng):
    return dict(W=rng.standard_normal((4, 3)), lam=float(rng.uniform(1.5, 3.0)))


exercise(
    id="npae.penalties:weight_decay_grad", equations="(P1)-(P2)",
    summary="∂R/∂W of the weight decay (λ/2)‖W‖²",
    cases=(Case("random", _wd_case),),
    oracle=lambda c: ((lambda W: penalties.weight_decay([W], c["lam"])), [c["W"]], ["W"]),
    call=lambda c, G: Call("npae.penalties:weight_decay_grad", (c["W"], c["lam"])),
    grads=lambda out, c, G: (_scalar(G, out),), tags=("P2",),
    factors=lambda c: {"λ": c["lam"]},
    latex=r"R = \frac{\lambda}{2} \lVert W \rVert_F^2, \qquad \text{derive } "
          r"\frac{\partial R}{\partial W}")


def _l1_case(rng):
    return dict(h=_away(rng, (5, 4), 0.1, 2.0), lam=float(rng.uniform(1.5, 3.0)))


def _l1_zeros(rng):
    c = _l1_case(rng)
    c["h"][rng.random(c["h"].shape) < 0.4] = 0.0
    c["h"][0, 0] = 0.0
    return c


def _zero_at_zero(out, ref, case):
    g = np.asarray(out)
    if g.shape != case["h"].shape:
        return f"returned shape {g.shape}, expected {case['h'].shape}"
    if np.any(g[case["h"] == 0] != 0):
        return "not 0 where h = 0 (npae takes the subgradient sign(0) = 0)"
    return _same(out, ref, case)


exercise(
    id="npae.penalties:l1_activity_grad", equations="(P3)-(P4)",
    summary="∂R/∂h of the L1 activity penalty λ (1/B) Σ |h|, with the subgradient 0 at h = 0",
    cases=(Case("random", _l1_case),),
    oracle=lambda c: ((lambda h: penalties.l1_activity(h, c["lam"])), [c["h"]], ["h"]),
    call=lambda c, G: Call("npae.penalties:l1_activity_grad", (c["h"], c["lam"])),
    grads=lambda out, c, G: (_scalar(G, out),), tags=("P4",),
    hidden=(Check("codes exactly 0 (the subgradient at the kink)", _l1_zeros, _zero_at_zero),),
    factors=lambda c: {"λ": c["lam"]},
    latex=r"R = \lambda \frac{1}{B} \sum_n \sum_j |h_{nj}|, \qquad \text{derive } "
          r"\frac{\partial R}{\partial h_{nj}} \text{ (a subgradient, 0 at } h_{nj} = 0)",
    answer_tags={"npae/models/conv.py": ("B4",)})


def _sigmoid_codes(rng, shape, mean=-1.0):
    return 1.0 / (1.0 + np.exp(-rng.normal(mean, 1.0, shape)))


def _kl_case(rng):
    return dict(h=_sigmoid_codes(rng, (6, 5)), rho=float(rng.uniform(0.03, 0.15)),
                beta=float(rng.uniform(1.5, 3.0)))


def _kl_at_target(rng):
    c = _kl_case(rng)
    for j in (0, 1):                                     # ρ̂_j = ρ: the gradient is 0 there
        col = c["rho"] + rng.uniform(-0.02, 0.02, 6)
        c["h"][:, j] = col - col.mean() + c["rho"]
    return c


def _kl_saturated(rng):
    c = _kl_case(rng)
    c["h"][:, 0] = 1.0                                   # σ(a) rounded to 1 on the whole batch
    c["h"][:, 1] = 0.0
    return c


def _rows_equal(out, ref, case):
    g = np.asarray(out)
    if g.ndim != 2 or g.shape != case["h"].shape:
        return f"returned shape {g.shape}, expected {case['h'].shape}"
    return None if np.array_equal(g, np.broadcast_to(g[0], g.shape)) else \
        "rows differ: (P8) gives every example of the batch the same gradient row"


exercise(
    id="npae.penalties:kl_sparsity_grad", equations="(P5)-(P9)",
    summary="∂R/∂h of the KL sparsity penalty β Σ_j KL(ρ ‖ ρ̂_j), ρ̂ the batch mean, "
            "with ρ̂ clamped as in (P9)",
    cases=(Case("random", _kl_case), Case("ρ̂_j = ρ", _kl_at_target)),
    oracle=lambda c: ((lambda h: penalties.kl_sparsity(h, c["rho"], c["beta"])), [c["h"]],
                      ["h"]),
    call=lambda c, G: Call("npae.penalties:kl_sparsity_grad", (c["h"], c["rho"], c["beta"])),
    grads=lambda out, c, G: (_scalar(G, out),), tags=("P7", "P8"),
    hidden=(Check("a unit saturated at ρ̂ = 1 and one at ρ̂ = 0 on the whole batch (the "
                  "clamp (P9))", _kl_saturated, _same),),
    properties=(Check("every row is the same row (P8)", _kl_case, _rows_equal),),
    factors=lambda c: {"β": c["beta"]},
    model=_SPARSE_MODEL,
    latex=r"\hat\rho_j = \frac{1}{B} \sum_n h_{nj}, \quad R = \beta \sum_j "
          r"\mathrm{KL}(\rho \,\|\, \hat\rho_j), \quad \mathrm{KL}(\rho \,\|\, \hat\rho) = "
          r"\rho \log\frac{\rho}{\hat\rho} + (1 - \rho) \log\frac{1 - \rho}{1 - \hat\rho}; "
          r"\qquad \text{derive } \frac{\partial R}{\partial h_{nj}} \text{ (}\hat\rho_j "
          r"\text{ clamped as in (P9))}",
    answer_tags={"npae/models/autoencoder.py": ("B8",)})


def _cae_case(rng):
    return dict(h=_sigmoid_codes(rng, (5, 3), 0.3), W=rng.standard_normal((4, 3)),
                lam=float(rng.uniform(1.5, 3.0)))


exercise(
    id="npae.penalties:contractive_grad", equations="(P10)-(P14)",
    summary="(∂R/∂h with q fixed, ∂R/∂W with h fixed) of the contractive penalty",
    cases=(Case("random", _cae_case),),
    oracle=lambda c: ((lambda h, W: penalties.contractive(h, W, c["lam"])), [c["h"], c["W"]],
                      ["h", "W"]),
    call=lambda c, G: Call("npae.penalties:contractive_grad", (c["h"], c["W"], c["lam"])),
    grads=lambda out, c, G: (_scalar(G, out[0]), _scalar(G, out[1])), tags=("P13", "P14"),
    redact=((r"^(\s*)∂R/∂a_nj = .*", r"\1∂R/∂a_nj = derive this"),
            (r"^(\s*)∂R/∂W_ij = Σ_n .*", r"\1∂R/∂W_ij = derive this")),
    also_stub=("contractive_explicit_grad",), factors=lambda c: {"λ": c["lam"]},
    model=_CAE_MODEL,
    latex=r"R = \lambda \frac{1}{B} \sum_n \sum_j \big(h_{nj}(1 - h_{nj})\big)^2 q_j, \quad "
          r"q_j = \sum_i W_{ij}^2; \qquad \text{derive } \frac{\partial R}{\partial h_{nj}} "
          r"\text{ with } q \text{ fixed and } \frac{\partial R}{\partial W_{ij}} "
          r"\text{ with } h \text{ fixed}",
    answer_tags={"npae/models/autoencoder.py": ("B10", "B11")})


# -- noise -------------------------------------------------------------------------------

def _noise_case(rng):
    X = rng.uniform(0.0, 1.0, (5, 6))
    replaced = rng.random(X.shape) < 0.3
    return dict(X=X, eps=rng.standard_normal(X.shape), scale=float(rng.uniform(0.2, 0.6)),
                mask=(rng.random(X.shape) >= 0.3).astype(np.float64), replaced=replaced,
                p=float(rng.uniform(0.2, 0.6)),
                values=np.where(rng.random(X.shape) < 0.5, 1.0, 0.0) * replaced)


def _noise_exercise(cls, fields, tag, latex=""):
    name = cls.__name__

    def record(c):
        return {k: c[k] for k in fields}

    exercise(
        id=f"npae.noise:{name}.backward", equations=f"({tag})",
        summary=f"∂ℒ/∂X given ∂ℒ/∂X̃ for the {cls.name} corruption (the draw held fixed)",
        cases=(Case("random", _noise_case),),
        oracle=lambda c: ((lambda X: cls(**record(c)).apply(X)), [c["X"]], ["X"]),
        call=lambda c, G: Call(f"npae.noise:{name}.backward", (G,), self_kwargs=record(c)),
        grads=lambda out, c, G: (out,), tags=(tag,),
        latex=latex + r" \text{ (drawn once, held fixed)}; \qquad \text{given } "
                      r"\frac{\partial \mathcal{L}}{\partial \tilde X}, \text{ derive } "
                      r"\frac{\partial \mathcal{L}}{\partial X}",
        # each corruption's backward gives the others away (the same product with what
        # is kept), and autoencoder (B12) names all three
        answer_tags={"npae/noise.py": ("D2", "D4", "D6", "D8"),
                     "npae/models/autoencoder.py": ("B12",)})


_noise_exercise(noise.GaussianNoise, ("eps", "scale"), "D2",
                latex=r"\tilde X = X + s\,\varepsilon, \quad \varepsilon \sim \mathcal{N}(0, I)")
_noise_exercise(noise.MaskingNoise, ("mask",), "D4",
                latex=r"\tilde X = X \odot m, \quad m \sim \mathrm{Bernoulli}(1 - p)")
_noise_exercise(noise.DropoutNoise, ("mask", "p"), "D8",
                latex=r"\tilde X = X \odot m / (1 - p), \quad m_{ni} \sim \mathrm{Bernoulli}(1 - p)")
_noise_exercise(noise.SaltAndPepperNoise, ("replaced", "values"), "D6",
                latex=r"\tilde X = X \odot (1 - r) + v \odot r, \quad r \sim "
                      r"\mathrm{Bernoulli}(p), \ v \in \{lo, hi\}")


# -- network -----------------------------------------------------------------------------

_TIED = [("enc.0", "W", "enc.0.b", False), ("dec.0", "W", "dec.0.b", True)]


def _tied_layers(ref=False):
    if ref:
        return [network.Layer(n, W, b, None, t) for n, W, b, t in _TIED]
    return [Obj("npae.network:Layer", dict(name=n, W=W, b=b, activation=None, transposed=t))
            for n, W, b, t in _TIED]


def _tied_forward(X, W, b_enc, b_dec):
    params = {"W": W, "enc.0.b": b_enc, "dec.0.b": b_dec}
    return network.run_layers(params, _tied_layers(ref=True), X)[-1].out


def _tied_case(rng):
    return dict(X=rng.standard_normal((5, 4)), W=rng.standard_normal((4, 3)),
                b_enc=rng.standard_normal(3), b_dec=rng.standard_normal(4))


def _tied_call(c, G):
    params = {"W": c["W"], "enc.0.b": c["b_enc"], "dec.0.b": c["b_dec"]}
    caches = network.run_layers(params, _tied_layers(ref=True), c["X"])
    caches = [Obj("npae.network:LayerCache", dict(inp=k.inp, pre=k.pre, out=k.out))
              for k in caches]
    return Call("npae.network:backprop_layers", (params, _tied_layers(), caches, G, {}),
                returns_args=(4,))


def _tied_grads(out, c, G):
    dX, grads = out
    if not isinstance(grads, dict):
        raise ValueError("grads is not a dict after the call")
    missing = [k for k in ("W", "enc.0.b", "dec.0.b") if k not in grads]
    if missing:
        raise ValueError(f"grads has no entry {missing[0]!r} after the call")
    return dX, grads["W"], grads["enc.0.b"], grads["dec.0.b"]


exercise(
    id="npae.network:backprop_layers", equations="network (B1)-(B3)",
    summary="backpropagation down a stack of layers, adding the two contributions of a "
            "tied weight (a linear tied autoencoder is checked)",
    cases=(Case("random", _tied_case),),
    oracle=lambda c: (_tied_forward, [c["X"], c["W"], c["b_enc"], c["b_dec"]],
                      ["X", "W", "enc.0.b", "dec.0.b"]),
    call=_tied_call, grads=_tied_grads, tags=("B1", "B2", "B3"),
    latex=r"A_l = H_{l-1} W_l + b_l, \quad H_l = f_l(A_l); \qquad \text{given } dH_L "
          r"\text{, derive } dA_l,\ dW_l,\ db_l,\ dH_{l-1} \text{ for } l = L, \dots, 1, "
          r"\text{ a weight shared by two layers getting both contributions}",
    answer_tags={"npae/models/autoencoder.py": ("B2", "B4")})


# -- VAE ---------------------------------------------------------------------------------

def _vae_case(rng, B=4, H=3):
    return dict(mu=rng.standard_normal((B, H)), logvar=_away(rng, (B, H), 0.4, 1.5),
                eps=rng.standard_normal((B, H)))


def _vae_at_zero(rng):
    c = _vae_case(rng)
    c["logvar"] = np.zeros_like(c["logvar"])             # std = std² = 1 here
    return c


def _reparameterize(c):
    def forward(mu, logvar):
        std = np.exp(0.5 * logvar)                       # vae (F5)
        return mu + std * c["eps"]                       # vae (F6)
    return forward


exercise(
    id="npae.models.vae:reparameterize_backward", equations="vae (E7)-(E8)",
    summary="(dμ, dlog σ²) from dz through z = μ + std ⊙ ε, std = exp(½ log σ²)",
    cases=(Case("random", _vae_case), Case("log σ² = 0", _vae_at_zero)),
    oracle=lambda c: (_reparameterize(c), [c["mu"], c["logvar"]], ["mu", "logvar"]),
    call=lambda c, G: Call("npae.models.vae:reparameterize_backward",
                           (G, np.exp(0.5 * c["logvar"]), c["eps"])),
    grads=lambda out, c, G: (out[0], out[1]), tags=("E7", "E8", "B4", "B5"),
    model=_VAE_MODEL,
    latex=r"z = \mu + \sigma \odot \varepsilon, \quad \sigma = \exp(\tfrac{1}{2} "
          r"\log \sigma^2), \ \varepsilon \text{ fixed}; \qquad \text{given } "
          r"\frac{\partial \mathcal{L}}{\partial z}, \text{ derive } "
          r"\frac{\partial \mathcal{L}}{\partial \mu} \text{ and } "
          r"\frac{\partial \mathcal{L}}{\partial \log \sigma^2}")


def _per_example(G, d):
    return np.asarray(G)[:, None] * d


exercise(
    id="npae.models.vae:gaussian_kl_grad", equations="vae (E4)-(E6)",
    summary="(∂KL_n/∂μ, ∂KL_n/∂log σ²) of the per-example Gaussian KL (no β, no 1/B)",
    cases=(Case("random", _vae_case), Case("log σ² = 0", _vae_at_zero)),
    oracle=lambda c: (vae.kl_divergence, [c["mu"], c["logvar"]], ["mu", "logvar"]),
    call=lambda c, G: Call("npae.models.vae:gaussian_kl_grad", (c["mu"], c["logvar"])),
    grads=lambda out, c, G: (_per_example(G, out[0]), _per_example(G, out[1])),
    tags=("E5", "E6", "B4", "B5"), uses=("npae.models.vae:kl_divergence",),
    model=_VAE_MODEL,
    latex=r"\mathrm{KL}_n = -\tfrac{1}{2} \sum_j \left(1 + \log \sigma^2_{nj} - "
          r"\mu^2_{nj} - \sigma^2_{nj}\right); \qquad \text{derive } "
          r"\frac{\partial \mathrm{KL}_n}{\partial \mu_{nj}} \text{ and } "
          r"\frac{\partial \mathrm{KL}_n}{\partial \log \sigma^2_{nj}}")


def _kl_nonnegative(out, ref, case):
    k = np.asarray(out)
    if k.shape != case["mu"].shape[:1]:
        return f"returned shape {k.shape}, expected {case['mu'].shape[:1]} (one KL per row)"
    return None if (k >= -1e-12).all() else "KL < 0 for some row (a KL is never negative)"


def _kl_zero_case(rng):
    return dict(mu=np.zeros((3, 4)), logvar=np.zeros((3, 4)))


def _kl_zero(out, ref, case):
    k = np.asarray(out)
    return None if k.shape == (3,) and np.allclose(k, 0.0, atol=1e-14) else \
        "KL(N(0, I) ‖ N(0, I)) is not 0"


exercise(
    id="npae.models.vae:kl_divergence", equations="vae (E4), (F9)",
    summary="KL(N(μ, diag σ²) ‖ N(0, I)) per row from μ and log σ²",
    cases=(Case("random", _vae_case),),
    call=lambda c, G=None: Call("npae.models.vae:kl_divergence", (c["mu"], c["logvar"])),
    hidden=(Check("large variances (log σ² = ±5)", lambda rng: dict(
        mu=rng.standard_normal((3, 2)), logvar=np.array([[5.0, -5.0]] * 3)), _same),),
    properties=(Check("KL ≥ 0", _vae_case, _kl_nonnegative),
                Check("KL = 0 at μ = 0, log σ² = 0", _kl_zero_case, _kl_zero)),
    tags=("E4", "F9"),
    latex=r"\mathrm{KL}_n = \mathrm{KL}\big(\mathcal{N}(\mu_n, \operatorname{diag} "
          r"\sigma^2_n) \,\|\, \mathcal{N}(0, I)\big) = \mathbb{E}_q[\log q(z) - \log p(z)]; "
          r"\qquad \text{derive it in closed form, in } \mu_n \text{ and } \log \sigma^2_n")


# -- Gaussian mixture --------------------------------------------------------------------

def _gmm_case(rng, far=False):
    K, D = 3, 2
    means = rng.normal(0.0, 3.0, (K, D))
    A = rng.normal(0.0, 0.5, (K, D, D))
    covs = A @ np.swapaxes(A, 1, 2) + 0.3 * np.eye(D)
    X = means[rng.integers(0, K, 7)] + rng.normal(0.0, 1.0, (7, D))
    if far:
        X[:2] += 1e3                                     # log N ≈ −10⁶: exp underflows to 0
    return dict(X=X, weights=rng.dirichlet(np.ones(K) * 2), means=means,
                chol=np.linalg.cholesky(covs))


# the fitted model's γ, label and mean log-likelihood go through the student's E step
_GMM_THROUGH_E_STEP = ("X = self._check_X(X)\n"
                       "log_gamma = self._e_step(X, self.weights_, self.means_, "
                       "self.cholesky_)[0]\n")


def _gmm_fitted(c):
    return dict(weights_=c["weights"], means_=c["means"], cholesky_=c["chol"],
                covariances_=c["chol"] @ np.swapaxes(c["chol"], 1, 2),
                n_features_in_=c["X"].shape[1])


def _gmm_call(c, G=None):
    return Call("npae.gmm:GaussianMixture._e_step", (c["X"], c["weights"], c["means"],
                                                      c["chol"]),
                self_kwargs={"n_components": 3, "covariance_type": "full"})


def _gmm_tuple_same(out, ref, case):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return "expected (log γ, mean log-likelihood)"
    return _same(out[0], ref[0], case) or _same(out[1], ref[1], case)


def _rows_normalized(out, ref, case):
    log_gamma = np.asarray(out[0])
    if log_gamma.shape != (case["X"].shape[0], 3):
        return f"log γ has shape {log_gamma.shape}, expected {(case['X'].shape[0], 3)}"
    ok = np.allclose(np.exp(log_gamma).sum(axis=1), 1.0, atol=1e-12)
    return None if ok else "the responsibilities of a row do not sum to 1"


exercise(
    id="npae.gmm:GaussianMixture._e_step", equations="gmm (E1), (L1)",
    summary="the E step: log γ_nk and the mean log-likelihood, through a log-sum-exp",
    cases=(Case("random", _gmm_case),), call=_gmm_call,
    hidden=(Check("points 1000 away from every component (log-sum-exp)",
                  lambda rng: _gmm_case(rng, far=True), _gmm_tuple_same),),
    properties=(Check("each row of γ sums to 1", _gmm_case, _rows_normalized),),
    tags=("E1",), uses=("npae.layers:logsumexp",),
    outputs=("log γ (the first output)", "the mean log-likelihood (the second output)"),
    latex=r"p(x) = \sum_k \pi_k \mathcal{N}(x \mid \mu_k, \Sigma_k); \qquad \text{derive } "
          r"\log \gamma_{nk} = \log p(z_n = k \mid x_n) \text{ and } \frac{1}{N} \sum_n "
          r"\log p(x_n)\text{, through a log-sum-exp}",
    same_as=("GaussianMixture._log_joint", "GaussianMixture.score_samples",
             ("GaussianMixture.predict_proba", _GMM_THROUGH_E_STEP + "return np.exp(log_gamma)"),
             ("GaussianMixture.predict", _GMM_THROUGH_E_STEP
              + "return np.argmax(log_gamma, axis=1)"),
             ("GaussianMixture.score", "X = self._check_X(X)\n"
              "return self._e_step(X, self.weights_, self.means_, self.cholesky_)[1]")),
    leak_state=_gmm_fitted)


# -- convolutional: pooling and upsampling ------------------------------------------------

def _pool_case(rng, shape=(2, 2, 5, 4), padding="valid"):
    """Distinct values at least 0.04 apart, so no block has a tie within the checker's
    stencil (±2ε = ±2e-3): max pooling is smooth there. Rows 5 → 2 blocks drop the last
    row ("valid"); 'same' pads the ragged edge instead."""
    n = int(np.prod(shape))
    X = (rng.permutation(n) * 0.05 + rng.uniform(0.0, 0.01, n)).reshape(shape) - 0.025 * n
    return dict(X=X, padding=padding)


def _pool_tie_case(rng):
    c = _pool_case(rng, (1, 2, 4, 4))
    X = c["X"]
    X[:, :, 1, 1] = X[:, :, 0, 0] = X[:, :, :2, :2].max() + 1.0      # a tie in block (0, 0)
    return c


exercise(
    id="npae.conv:maxpool2d_backward", equations="conv (M1)-(M3)",
    summary="∂L/∂X of k × k max pooling (k = 2), 'valid' or 'same'",
    cases=(Case("random", _pool_case),
           Case("'same' padding (7 → 4)", lambda rng: _pool_case(rng, (2, 1, 7, 7), "same"))),
    oracle=lambda c: ((lambda X: conv.maxpool2d_forward(X, 2, c["padding"])), [c["X"]], ["X"]),
    call=lambda c, G: Call("npae.conv:maxpool2d_backward", (G, c["X"], 2, c["padding"])),
    grads=lambda out, c, G: (out,),
    hidden=(Check("a tie: only the first maximum (row-major) gets the gradient",
                  _pool_tie_case, _same),),
    tags=("M3",),
    latex=r"A_{ncij} = \max_{u,v<k} X_{n,c,ki+u,kj+v}; \qquad \text{given } "
          r"\frac{\partial \mathcal{L}}{\partial A}, \text{ derive } "
          r"\frac{\partial \mathcal{L}}{\partial X}")


def _upsample_case(rng):
    return dict(X=rng.standard_normal((2, 3, 3, 4)))


exercise(
    id="npae.conv:upsample2d_backward", equations="conv (U1)-(U2)",
    summary="∂L/∂X of nearest-neighbour upsampling by k = 2",
    cases=(Case("random", _upsample_case),),
    oracle=lambda c: ((lambda X: conv.upsample2d_forward(X, 2)), [c["X"]], ["X"]),
    call=lambda c, G: Call("npae.conv:upsample2d_backward", (G, 2)),
    grads=lambda out, c, G: (out,),
    tags=("U2",),
    latex=r"A_{n,c,ki+u,kj+v} = X_{ncij} \ (u, v < k); \qquad \text{given } "
          r"\frac{\partial \mathcal{L}}{\partial A}, \text{ derive } "
          r"\frac{\partial \mathcal{L}}{\partial X}")


# -- convolutional: the convolution's gradients and the transposed convolution ------------

def _conv_case(rng, shape=(2, 2, 7, 6), filters=3, kernel=(3, 3), stride=2, padding=1):
    """X, W of a convolution (linear in each: smooth everywhere, no point to avoid). At
    k = 3, s = 2, p = 1 the 6 columns leave one padded column that no window reaches, so
    the input size is not the output size's inverse."""
    return dict(X=rng.standard_normal(shape),
                W=rng.standard_normal((filters, shape[1]) + kernel), stride=stride,
                padding=padding)


_CONV_CASES = (Case("random", _conv_case),
               Case("stride 1, no padding, a 2 × 3 kernel",
                    lambda rng: _conv_case(rng, (2, 3, 5, 6), 2, (2, 3), 1, 0)))


def _conv_forward_of(c, wrt):
    s, p = c["stride"], c["padding"]
    if wrt == "X":
        return (lambda X: conv.conv2d_forward(X, c["W"], None, s, p)), [c["X"]], ["X"]
    return (lambda W: conv.conv2d_forward(c["X"], W, None, s, p)), [c["W"]], ["W"]


_CONV_LATEX = (r"A_{nfij} = \sum_{c,u,v} \bar X_{n,c,si+u,sj+v} W_{fcuv} + b_f "
               r"\ (\bar X = X \text{ zero-padded by } p); \qquad \text{given } "
               r"\frac{\partial \mathcal{L}}{\partial A}, \text{ derive } ")

def _conv_gradient(wrt, name, equations, tags, also_stub=(), same_as=()):
    """conv2d's gradient with respect to ``wrt`` (X or W), given dA and the other one."""
    other = "W" if wrt == "X" else "X"
    exercise(
        id=f"npae.conv:{name}", equations=equations,
        summary=f"∂L/∂{wrt} of the convolution A = conv2d(X; W) + b (stride s, padding p), "
                f"given dA and {other}",
        cases=_CONV_CASES,
        oracle=lambda c: _conv_forward_of(c, wrt),
        call=lambda c, G: Call(f"npae.conv:{name}", (G, c[other], tuple(c[wrt].shape[2:]),
                                                     c["stride"], c["padding"])),
        grads=lambda out, c, G: (out,), tags=tags, also_stub=also_stub, same_as=same_as,
        latex=_CONV_LATEX + rf"\frac{{\partial \mathcal{{L}}}}{{\partial {wrt}}}")


# the model's second route through the flipped kernel states (C11) for stride 1: in a
# build that asks for dX or convᵀ, its stages take the first route (conv2d's own functions)
_MODEL_ROUTE = (
    ("npae.models.conv:_conv2d_forward",
     "return conv2d_forward(h, W, b, st.stride, st.padding, return_cols=True)"),
    ("npae.models.conv:_conv2d_backward",
     "return conv2d_backward(da, inp, W, st.stride, st.padding, need_dX=need_dX, cols=cols)"),
    ("npae.models.conv:_via_flipped", "return None"),
    "npae.models.conv:_flipped", "npae.models.conv:_flipped_padding")

_conv_gradient("X", "conv2d_input_grad", "conv (C8)-(C12)",
               ("C8", "C9", "C10", "C11", "C12", "T3", "T4", "T5"), also_stub=("_col2im",),
               same_as=_MODEL_ROUTE)
_conv_gradient("W", "conv2d_weight_grad", "conv (C4), (C7)", ("C7", "T7"))


def _tconv_case(rng, shape=(2, 3, 3, 4), c_out=2, kernel=(3, 3), stride=2, padding=1, q=1):
    return dict(X=rng.standard_normal(shape),
                W=rng.standard_normal((shape[1], c_out) + kernel),
                b=rng.standard_normal(c_out), stride=stride, padding=padding, q=q)


def _is_the_adjoint(out, ref, case):
    """⟨conv2d(Y; W), X⟩ = ⟨Y, convᵀ(X; W)⟩ for a random Y, biases off (T2)."""
    A = np.asarray(out)
    X, W, b, s, p = case["X"], case["W"], case["b"], case["stride"], case["padding"]
    expected = (X.shape[0], W.shape[1]) + tuple(
        conv.conv_transpose2d_output_size(n, k, s, p, case["q"])
        for n, k in zip(X.shape[2:], W.shape[2:]))
    if A.shape != expected:
        return f"returned shape {A.shape}, expected {expected}"
    Y = np.random.default_rng(0).standard_normal(A.shape)
    lhs = float(np.sum(conv.conv2d_forward(Y, W, None, s, p) * X))
    rhs = float(np.sum(Y * (A - b[:, None, None])))
    if not np.isclose(lhs, rhs, rtol=1e-9, atol=1e-9):
        return "⟨conv2d(Y; W), X⟩ ≠ ⟨Y, A − b⟩: not the adjoint of the convolution"
    return None


exercise(
    id="npae.conv:conv_transpose2d_forward", equations="conv (T1)-(T5)",
    summary="the transposed convolution A = convᵀ(X; W) + b, stride s, padding p, output "
            "padding q: the adjoint of conv2d",
    cases=(Case("random", _tconv_case),
           Case("stride 1, no padding, a 2 × 3 kernel",
                lambda rng: _tconv_case(rng, (2, 2, 4, 3), 3, (2, 3), 1, 0, 0))),
    call=lambda c, G=None: Call("npae.conv:conv_transpose2d_forward",
                                (c["X"], c["W"], c["b"], c["stride"], c["padding"], c["q"])),
    properties=(Check("the adjoint of conv2d: ⟨conv2d(Y; W), X⟩ = ⟨Y, A − b⟩",
                      _tconv_case, _is_the_adjoint),),
    tags=("T3", "T4", "T5", "C8", "C9", "C10", "C11", "C12"), also_stub=("_col2im",),
    same_as=(("conv2d_input_grad",
              "Hi, Wi = _check_size(input_size, 'input_size')\n"
              "q = tuple((n + 2 * padding - k) % stride for n, k in zip((Hi, Wi), W.shape[2:]))\n"
              "return conv_transpose2d_forward(dA, W, None, stride, padding, q)"),)
    + _MODEL_ROUTE,
    latex=r"A - b = \operatorname{conv}^\top(X; W): \ \langle \operatorname{conv2d}(Y; W), "
          r"X \rangle = \langle Y, A - b \rangle \text{ for every } Y; \qquad \text{derive } A "
          r"\text{ (stride } s\text{, padding } p\text{, output padding } q)")


# -- recommendation: the multinomial likelihood, dropout, L2 normalization -----------------

def _counts_case(rng):
    """Logits and click counts of 5 users over 6 items (every user has a click)."""
    X = (rng.random((5, 6)) < 0.4) * rng.integers(1, 4, (5, 6)).astype(np.float64)
    X[np.arange(5), rng.integers(0, 6, 5)] += 1.0
    return dict(A=rng.normal(0.0, 2.0, (5, 6)), X=X)


exercise(
    id="npae.losses:MultinomialLoss.grad", equations="(F5)-(F7), (B5)",
    summary="∂ℒ/∂A of the multinomial loss −Σ_i x_ni log softmax(a_n)_i, averaged over B",
    cases=(Case("random", _counts_case),),
    oracle=lambda c: ((lambda A: losses.MultinomialLoss.value(A, c["X"])), [c["A"]], ["A"]),
    call=lambda c, G: Call("npae.losses:MultinomialLoss.grad", (c["A"], c["X"])),
    grads=lambda out, c, G: (_scalar(G, out),), tags=("B5",),
    latex=r"\mathcal{L} = -\frac{1}{B} \sum_n \sum_i x_{ni} \log \operatorname{softmax}(a_n)_i, "
          r"\qquad \text{derive } \frac{\partial \mathcal{L}}{\partial A} \quad (B, D)")


def _l2_case(rng):
    X = rng.uniform(0.1, 1.0, (5, 6)) * rng.choice([0.0, 1.0], (5, 6), p=[0.3, 0.7])
    X[:, 0] += 0.5                                           # no row of zeros
    return dict(X=X)


def _l2_call(c, G):
    X_bar, r = normalization.l2_normalize(c["X"])
    return Call("npae.normalization:l2_normalize_backward", (G, X_bar, r))


exercise(
    id="npae.normalization:l2_normalize_backward", equations="(N1)-(N3)",
    summary="∂ℒ/∂X through x̄_n = x_n / ‖x_n‖ (each row divided by its 2-norm)",
    cases=(Case("random", _l2_case),),
    oracle=lambda c: ((lambda X: normalization.l2_normalize(X)[0]), [c["X"]], ["X"]),
    call=_l2_call, grads=lambda out, c, G: (out,), tags=("N3",),
    latex=r"r_n = \lVert x_n \rVert_2, \quad \bar x_n = x_n / r_n; \qquad \text{given } "
          r"\frac{\partial \mathcal{L}}{\partial \bar X}, \text{ derive } "
          r"\frac{\partial \mathcal{L}}{\partial X}")
