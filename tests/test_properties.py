"""Property-based tests (hypothesis): random small models pass the gradient check, and
the invariants every model promises hold for random configurations.

What is drawn, and why each drawn point is smooth (the finite differences of
npae.gradcheck move every parameter and every input entry by up to ±2ε = ±2e-3, so the
loss must be smooth within that distance of the point):

* architectures: depth 1-3, widths 1-7, D 1-4 features, B 1-4 rows, every activation
  (identity, sigmoid, tanh and softplus are smooth everywhere; ReLU only after
  :func:`clear_kinks` has moved every ReLU pre-activation at least ``MARGIN`` = 0.05 away
  from 0 by shifting that unit's bias), tied and untied weights, mirrored or free
  decoders, both outputs;
* regularizers and every combination ``_validate_regularizers`` allows: L1 sparsity
  (|z| has its kink at z = 0; an identity or tanh code is moved ``MARGIN`` away from 0
  by :func:`clear_kinks`, a sigmoid, softplus or ReLU code is ≥ 0 and |z| = z near it),
  KL sparsity (sigmoid codes: ρ̂ ∈ (0, 1), smooth, but the k-th derivative of
  log(1 − ρ̂) grows as (k−1)!/(1 − ρ̂)^k: at 1 − ρ̂ = 0.015 the order-4 stencil's
  truncation error ε⁴ L⁽⁵⁾/30 is ~1e-3 and the checker rightly refuses to judge, so
  points with some ρ̂_j outside [KL_EDGE, 1 − KL_EDGE] = [0.05, 0.95] are rejected),
  k-sparse codes (the mask is piecewise constant: points whose k-th and (k+1)-th
  largest code differ by less than ``TOP_K_GAP`` in some row are rejected, so no
  perturbation reorders them), denoising with each noise
  (drawn once by ``sample_noise`` and held fixed: X̃ is affine in X and in the
  parameters), contractive (one sigmoid layer: a smooth closed form), weight decay;
* VAEs: depth 0-3, both decoders, fixed or learned decoder variance, with and without
  ``logvar_bound``, β, weight decay, dynamic binarization (X_b = 1[U < X] is constant
  in X unless |U − X| < 2ε: such points are rejected);
* parameters: the model's initialization plus N(0, 0.2²) on every array, so biases are
  not 0 and no symmetry makes gradients vanish; Bernoulli targets X ∈ [0.01, 0.99]
  (at least 2ε = 2e-3 inside [0, 1], so the input check never leaves the domain),
  Gaussian targets N(0, 1).

The pass criterion is the checker's own (relative error ≤ 1e-7 or max abs error ≤ its
error estimate (N4)); no tolerance is re-implemented here. Planted bugs (a 1% error in
each term's gradient) show that the drawn points are not degenerate: every one fails.

Run (default profile; the number of examples of each test is in its ``@examples(n)``)::

    python -m pytest -q -p no:cacheprovider tests/test_properties.py

and with ten times more examples, freshly random instead of the fixed derandomized ones::

    NPAE_HYPOTHESIS_PROFILE=slow python -m pytest -q -p no:cacheprovider tests/test_properties.py

The default profile is derandomized (the same examples on every run) and keeps the file
well under a minute; the slow profile multiplies every ``max_examples`` by ``SLOW_FACTOR``.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import npae
from npae import layers as L
from npae import losses, noise as noise_mod, penalties
from npae.gradcheck import check_model, check_vjp
from npae.models import (VAE, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder,
                         KSparseAutoencoder, SparseAutoencoder, StackedAutoencoder)
from npae.models import vae as vae_mod
from npae.network import run_layers

# -- profiles --------------------------------------------------------------------------
settings.register_profile("npae-default", deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("npae-slow", deadline=None, derandomize=False, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
SLOW = os.environ.get("NPAE_HYPOTHESIS_PROFILE", "default") == "slow"
SLOW_FACTOR = 10
_BASE = settings.get_profile("npae-slow" if SLOW else "npae-default")


def examples(n):
    """``settings`` for a test of n examples by default (SLOW_FACTOR · n in the slow profile).

    The profile is applied per test (as a parent), not loaded globally, so other test
    files' hypothesis settings are untouched.
    """
    return settings(_BASE, max_examples=n * (SLOW_FACTOR if SLOW else 1))


MARGIN = 0.05       # min |pre-activation| of a ReLU unit, min |z| of an L1 identity/tanh code
TOP_K_GAP = 0.02    # min gap between the k-th and (k+1)-th largest code of every row
KL_EDGE = 0.05      # KL sparsity: ρ̂_j kept in [KL_EDGE, 1 − KL_EDGE] (see the docstring)
SMOOTH = ("identity", "sigmoid", "tanh", "softplus")
ACTIVATIONS = SMOOTH + ("relu",)
NOISES = (None, "gaussian", "masking", "salt_and_pepper")
AE_CLASSES = (Autoencoder, SparseAutoencoder, KSparseAutoencoder, DenoisingAutoencoder,
              ContractiveAutoencoder)


# -- strategies ------------------------------------------------------------------------
def _sizes(draw, lo, hi):
    return tuple(draw(st.integers(1, 7)) for _ in range(draw(st.integers(lo, hi))))


@st.composite
def autoencoder_cases(draw):
    """An allowed Autoencoder configuration (hyperparameters), D, B and a seed.

    Allowed: ``sparsity`` and ``k`` exclusive; KL needs a sigmoid code; contractive needs
    one sigmoid layer; noise_level > 0 only with a noise (≤ 1 for masking and
    salt-and-pepper); decoder_layer_sizes / decoder_activation only untied.
    """
    code = draw(st.sampled_from(("none", "l1", "kl", "k")))
    contractive = draw(st.integers(0, 3)) == 0          # forces one sigmoid layer: 1 in 4
    sizes = _sizes(draw, 1, 1 if contractive else 3)
    acts = [draw(st.sampled_from(ACTIVATIONS)) for _ in sizes]
    if code == "kl" or contractive:
        acts[-1] = "sigmoid"
    kw = dict(hidden_layer_sizes=sizes,
              activation=acts[0] if draw(st.booleans()) and len(set(acts)) == 1 else tuple(acts),
              output=draw(st.sampled_from(("bernoulli", "gaussian"))),
              tied_weights=draw(st.booleans()),
              # every regularizer given explicitly: the presets' defaults do not apply
              sparsity=None, sparsity_weight=0.0, k=None, noise=None, noise_level=0.0,
              contractive_weight=0.0, weight_decay=0.0)
    if not kw["tied_weights"] and draw(st.booleans()):
        dec = _sizes(draw, 0, 2)
        kw["decoder_layer_sizes"] = dec
        kw["decoder_activation"] = tuple(draw(st.sampled_from(ACTIVATIONS)) for _ in dec)
    if code in ("l1", "kl"):
        kw.update(sparsity=code, sparsity_weight=draw(st.floats(0.05, 3.0)))
        if code == "kl":
            kw["sparsity_target"] = draw(st.floats(0.02, 0.5))
    elif code == "k":
        kw.update(k=draw(st.integers(1, sizes[-1])))
    if contractive:
        kw["contractive_weight"] = draw(st.floats(0.05, 3.0))
    kind = draw(st.sampled_from(NOISES))
    if kind is not None:
        kw.update(noise=kind, noise_level=draw(st.floats(0.05, 0.6)))
    if draw(st.booleans()):
        kw["weight_decay"] = draw(st.floats(1e-3, 1.0))
    return dict(cls=draw(st.sampled_from(AE_CLASSES)), kwargs=kw,
                D=draw(st.integers(1, 4)), B=draw(st.integers(1, 4)),
                seed=draw(st.integers(0, 2**32 - 1)))


@st.composite
def stacked_cases(draw):
    """A StackedAutoencoder (unrolled: fine-tuning terms recon and weight_decay), with
    k-sparse stages (a mask after every encoder layer) or other stage options."""
    sizes = _sizes(draw, 1, 3)
    kw = dict(hidden_layer_sizes=sizes, activation=draw(st.sampled_from(ACTIVATIONS)),
              output=draw(st.sampled_from(("bernoulli", "gaussian"))),
              tied_weights=draw(st.booleans()), pretrain_epochs=1)
    option = draw(st.sampled_from(("none", "k", "noise")))
    if option == "k":
        kw["layer_options"] = {"k": draw(st.integers(1, min(sizes)))}
    elif option == "noise":
        kw["layer_options"] = {"noise": "masking", "noise_level": 0.3}
    if draw(st.booleans()):
        kw["weight_decay"] = draw(st.floats(1e-3, 1.0))
    return dict(cls=StackedAutoencoder, kwargs=kw, D=draw(st.integers(1, 4)),
                B=draw(st.integers(1, 4)), seed=draw(st.integers(0, 2**32 - 1)))


@st.composite
def vae_cases(draw):
    """An allowed VAE configuration: learned variance and binarize as their outputs allow."""
    output = draw(st.sampled_from(("bernoulli", "gaussian")))
    kw = dict(hidden_layer_sizes=_sizes(draw, 0, 3), latent_dim=draw(st.integers(1, 7)),
              activation=draw(st.sampled_from(ACTIVATIONS)), output=output,
              beta=draw(st.sampled_from((0.0, 1.0))) if draw(st.booleans())
              else draw(st.floats(0.1, 4.0)))
    if output == "gaussian":
        kw["decoder_variance"] = (draw(st.sampled_from(("learned", 1.0))) if draw(st.booleans())
                                  else draw(st.floats(0.2, 5.0)))
    else:
        kw["binarize"] = draw(st.booleans())
    if draw(st.booleans()):
        kw["logvar_bound"] = draw(st.floats(1.0, 40.0))
    if draw(st.booleans()):
        kw["weight_decay"] = draw(st.floats(1e-3, 1.0))
    return dict(cls=VAE, kwargs=kw, D=draw(st.integers(1, 4)), B=draw(st.integers(1, 4)),
                seed=draw(st.integers(0, 2**32 - 1)))


ALL_CASES = st.one_of(autoencoder_cases(), stacked_cases(), vae_cases())


# -- building a random smooth point --------------------------------------------------------
def build(case, dtype="float64", **training):
    """The model of ``case`` (not fitted)."""
    return case["cls"](**case["kwargs"], dtype=dtype, random_state=case["seed"] % 2**31,
                       verbose=False, **training)


def draw_data(model, n, D, rng):
    """X inside the model's target domain: Bernoulli targets in [0.01, 0.99] (≥ 2ε inside
    [0, 1]), Gaussian targets N(0, 1)."""
    if model.output == "bernoulli":
        return rng.uniform(0.01, 0.99, size=(n, D))
    return rng.standard_normal((n, D))


def _away_from_zero(values, margin):
    """The shift c of smallest |c| with |v − c| ≥ margin for every v: a bias change −c
    moves a unit's pre-activations (one column) off the kink at 0."""
    if np.min(np.abs(values)) >= margin:
        return 0.0
    candidates = np.concatenate([values - margin, values + margin])
    ok = [c for c in candidates if np.min(np.abs(values - c)) >= margin * (1 - 1e-9)]
    return min(ok, key=abs)


def _clear_columns(params, layer, pre, margin):
    """Shift ``layer``'s bias so that every column of ``pre`` is ``margin`` away from 0."""
    shifts = np.array([_away_from_zero(pre[:, j], margin) for j in range(pre.shape[1])])
    params[layer.b] = params[layer.b] - shifts


def _run(params, layer, h, margin, kinked):
    """One layer forward; if ``kinked`` its pre-activations are moved off 0 first."""
    cache = run_layers(params, [layer], h)[0]
    if kinked:
        _clear_columns(params, layer, cache.pre, margin)
        cache = run_layers(params, [layer], h)[0]
    return cache


def _relu(layer):
    return layer.activation is not None and layer.activation.name == "relu"


def clear_kinks(model, X, noise):
    """Move the point (model.params_, X, noise) off every kink of the training loss.

    ReLU pre-activations and the pre-activations of an L1-penalized identity/tanh code
    get |a| ≥ MARGIN (a per-unit bias shift, the smallest that does it); returns False
    when a k-sparse layer has a near-tie (the caller rejects the example).
    """
    p = model.params_
    if isinstance(model, VAE):
        enc, mu, logvar, dec = model._layers()
        eps, h = noise, X
        if isinstance(noise, dict):                     # binarized: the encoder reads X_b
            if np.min(np.abs(noise["u"] - X)) < 0.01:   # X_b = 1[U < X] constant within 2ε
                return False
            eps, h = noise["eps"], (noise["u"] < X).astype(X.dtype)
        for layer in enc:
            h = _run(p, layer, h, MARGIN, _relu(layer)).out
        m = run_layers(p, [mu], h)[0].out
        lv = model._logvar_head(run_layers(p, [logvar], h)[0].out)
        h = m + np.exp(0.5 * lv) * eps
        for layer in dec:
            h = _run(p, layer, h, MARGIN, _relu(layer)).out
        return True
    enc, dec = model._layers()
    h = X if noise is None else noise.apply(X)
    ks = model._encoder_ks(True)
    l1_code = model.sparsity == "l1" and model._enc_acts[-1].name in ("identity", "tanh")
    for i, (layer, k) in enumerate(zip(enc, ks)):
        code = i == len(enc) - 1
        cache = _run(p, layer, h, MARGIN, _relu(layer) or (code and l1_code))
        h = cache.out
        if code and model.sparsity == "kl" and not np.all(np.abs(h.mean(axis=0) - 0.5)
                                                          <= 0.5 - KL_EDGE):
            return False
        if k is not None:
            if k < h.shape[1]:
                top = -np.sort(-h, axis=1)
                if np.min(top[:, k - 1] - top[:, k]) < TOP_K_GAP:
                    return False
            h = h * penalties.top_k_mask(h, k)
    for layer in dec:
        h = _run(p, layer, h, MARGIN, _relu(layer)).out
    return True


def random_point(case, rng):
    """A float64 model at a random smooth point, its batch X and frozen noise (see the
    module docstring); rejects (``assume``) points near a top-k tie or a binarization edge."""
    model = build(case)
    D, B = case["D"], case["B"]
    X = draw_data(model, B, D, rng)
    if isinstance(model, VAE):
        model.initialize(D)
    else:
        model.initialize(D, data_range=(float(X.min()), float(X.max())))
    for k in model.params_:
        model.params_[k] = model.params_[k] + 0.2 * rng.standard_normal(model.params_[k].shape)
    noise = model.sample_noise(X, rng)
    assume(clear_kinks(model, X, noise))
    return model, X, noise


def expected_terms(model):
    """The loss terms the configuration must report (each checked alone by check_model)."""
    if isinstance(model, VAE):
        return {"recon", "kl"} | ({"weight_decay"} if model.weight_decay > 0 else set())
    terms = {"recon"}
    if model.sparsity is not None and model.sparsity_weight > 0:
        terms.add("sparsity")
    if model.contractive_weight > 0:
        terms.add("contractive")
    if model.weight_decay > 0:
        terms.add("weight_decay")
    return terms


def assert_check_passes(model, X, noise):
    report = check_model(model, X, noise=noise, raise_on_fail=False)
    terms = expected_terms(model)
    checked = {r.term for r in report.rows}
    # every term alone (when there are several) and all together, each with the input X
    assert checked == (terms | {"all"} if len(terms) > 1 else {"all"}), checked
    assert {r.name for r in report.rows} == set(model.params_) | {"input X"}
    assert report.passed, (f"{type(model).__name__}({model.get_params()}) at B={X.shape[0]}:\n"
                           + report.table())
    return report


# -- 1. random models pass the gradient check --------------------------------------------
@pytest.mark.slow      # over a second: the quick loop stays about a minute
@examples(40)
@given(case=autoencoder_cases(), seed=st.integers(0, 2**32 - 1))
def test_random_autoencoders_pass_the_gradient_check(case, seed):
    """Every allowed Autoencoder configuration (and preset) passes check_model at a random
    smooth float64 point: each term alone, all together, and the input gradient."""
    assert_check_passes(*random_point(case, np.random.default_rng(seed)))


@pytest.mark.slow      # over a second: the quick loop stays about a minute
@examples(20)
@given(case=stacked_cases(), seed=st.integers(0, 2**32 - 1))
def test_random_stacked_autoencoders_pass_the_gradient_check(case, seed):
    """The unrolled stack, k-sparse stages masking every encoder layer included."""
    assert_check_passes(*random_point(case, np.random.default_rng(seed)))


@pytest.mark.slow      # over a second: the quick loop stays about a minute
@examples(25)
@given(case=vae_cases(), seed=st.integers(0, 2**32 - 1))
def test_random_vaes_pass_the_gradient_check(case, seed):
    """VAEs with both decoders, fixed or learned decoder variance, with and without
    ``logvar_bound``, β, weight decay, binarization, ReLU or smooth hidden layers."""
    assert_check_passes(*random_point(case, np.random.default_rng(seed)))


# Planted bugs: a 1% error in one term's gradient. The check must fail at every drawn point
# (if it did not, the strategy would be drawing points where that term is invisible).
def _scaled(fun, factor=1.01, index=None):
    def wrong(*args, **kwargs):
        out = fun(*args, **kwargs)
        if index is None:
            return out * factor
        out = list(out)
        out[index] = out[index] * factor
        return tuple(out)
    return wrong


AM = "npae.models.autoencoder"
PLANTED = {
    "l1": (f"{AM}.l1_activity_grad", _scaled(penalties.l1_activity_grad), "sparsity",
           dict(code="l1")),
    "kl": (f"{AM}.kl_sparsity_grad", _scaled(penalties.kl_sparsity_grad), "sparsity",
           dict(code="kl")),
    "contractive q path": (f"{AM}.contractive_grad",
                           _scaled(penalties.contractive_grad, index=1), "contractive",
                           dict(code="contractive")),
    "weight decay": (f"{AM}.weight_decay_grad", _scaled(penalties.weight_decay_grad),
                     "weight_decay", dict(code="wd")),
    "vae kl": ("npae.models.vae.gaussian_kl_grad",
               _scaled(vae_mod.gaussian_kl_grad, index=0), "kl", dict(code="vae")),
}


@st.composite
def planted_cases(draw, code):
    if code == "vae":
        case = draw(vae_cases())
        case["kwargs"]["beta"] = draw(st.floats(0.1, 4.0))
        return case
    case = draw(autoencoder_cases())
    kw = case["kwargs"]
    if code == "wd":
        kw["weight_decay"] = draw(st.floats(1e-3, 1.0))
        return case
    kw.update(sparsity=None, sparsity_weight=0.0, k=None, contractive_weight=0.0)
    if code == "contractive":
        kw.update(hidden_layer_sizes=kw["hidden_layer_sizes"][:1], activation="sigmoid",
                  contractive_weight=draw(st.floats(0.05, 3.0)))
    else:
        if code == "kl":
            acts = kw["activation"]
            acts = (acts,) * len(kw["hidden_layer_sizes"]) if isinstance(acts, str) else acts
            kw["activation"] = tuple(acts[:-1]) + ("sigmoid",)
        else:                   # a ReLU code can be all 0: an L1 term invisible there
            acts = kw["activation"]
            acts = (acts,) * len(kw["hidden_layer_sizes"]) if isinstance(acts, str) else acts
            kw["activation"] = tuple(acts[:-1]) + (draw(st.sampled_from(SMOOTH)),)
        kw.update(sparsity=code, sparsity_weight=draw(st.floats(0.05, 3.0)))
    return case


@pytest.mark.slow      # over a second: the quick loop stays about a minute
@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_planted_gradient_bugs_fail_at_every_drawn_point(bug):
    """A 1% error in the gradient of one term fails the check of that term at every point
    the strategies draw, so the passing tests above are not passing on vacuous points."""
    target, wrong, term, how = PLANTED[bug]

    @examples(6)
    @given(case=planted_cases(how["code"]), seed=st.integers(0, 2**32 - 1))
    def run(case, seed):
        model, X, noise = random_point(case, np.random.default_rng(seed))
        with mock.patch(target, wrong):
            report = check_model(model, X, noise=noise, terms=[term], each_term=False,
                                 include_input=False, raise_on_fail=False)
        assert not report.passed, report.table()

    run()


# -- 2. invariants -----------------------------------------------------------------------
@examples(30)
@given(case=ALL_CASES, seed=st.integers(0, 2**32 - 1))
def test_terms_add_up_loss_values_and_gradients(case, seed):
    """ℒ = Σ of the selected entries of ``values`` (docs/notation.md), and the gradients of
    the terms taken alone add up to the gradient of all of them, for the parameters and
    for the input (each term's backward runs only when the term is selected)."""
    model, X, noise = random_point(case, np.random.default_rng(seed))
    loss, values, grads = model.loss_and_grads(X, noise=noise)
    assert set(values) == expected_terms(model)
    assert loss == pytest.approx(sum(values.values()), rel=1e-12, abs=1e-300)
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    total_dX = np.zeros_like(X)
    for t in values:
        loss_t, values_t, grads_t = model.loss_and_grads(X, noise=noise, terms=[t])
        assert loss_t == values[t] and values_t == values
        for k in grads_t:
            total[k] += grads_t[k]
        total_dX += model.input_gradient(X, noise=noise, terms=[t])[1]
    for k in grads:
        scale = float(np.max(np.abs(grads[k]), initial=0.0)) + 1e-300
        np.testing.assert_allclose(total[k], grads[k], rtol=1e-12, atol=1e-12 * scale,
                                   err_msg=k)
    dX = model.input_gradient(X, noise=noise)[1]
    np.testing.assert_allclose(total_dX, dX, rtol=1e-12,
                               atol=1e-12 * (float(np.max(np.abs(dX))) + 1e-300))


def _assert_same_step(a, b, X, noise):
    la, va, ga = a.loss_and_grads(X, noise=noise)
    lb, vb, gb = b.loss_and_grads(X, noise=noise)
    assert la == lb and va == vb
    assert list(ga) == list(gb)
    for k in ga:
        assert ga[k].dtype == gb[k].dtype and np.array_equal(ga[k], gb[k]), k


@examples(40)
@given(case=ALL_CASES, seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from(("float32", "float64")))
def test_save_load_gives_bit_identical_loss_and_grads(case, seed, dtype):
    """save → npae.load → the same class, hyperparameters, parameters (bitwise) and the
    same loss_and_grads to the last bit; the loaded model draws the same noise."""
    rng = np.random.default_rng(seed)
    model = build(case, dtype)
    X = draw_data(model, case["B"], case["D"], rng).astype(dtype)
    if isinstance(model, VAE):
        model.initialize(case["D"])
    else:
        model.initialize(case["D"], data_range=(float(X.min()), float(X.max())))
    for k in model.params_:
        model.params_[k] = (model.params_[k]
                            + 0.2 * rng.standard_normal(model.params_[k].shape)).astype(dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        model.save(path)
        loaded = npae.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    for k in model.params_:
        assert np.array_equal(loaded.params_[k], model.params_[k])
        assert loaded.params_[k].dtype == model.params_[k].dtype
    noise = model.sample_noise(X, np.random.default_rng(seed))
    again = loaded.sample_noise(X, np.random.default_rng(seed))
    if noise is not None:
        for x, y in zip(_leaves(noise), _leaves(again)):
            assert np.array_equal(x, y)
    _assert_same_step(model, loaded, X, noise)


def _leaves(noise):
    if isinstance(noise, np.ndarray):
        return [noise]
    if isinstance(noise, dict):
        return [noise[k] for k in sorted(noise)]
    return [getattr(noise, f) for f in sorted(vars(noise))]


@examples(25)
@given(case=ALL_CASES, data_seed=st.integers(0, 2**32 - 1), n=st.integers(2, 12),
       batch_size=st.integers(1, 8), epochs=st.integers(1, 2),
       dtype=st.sampled_from(("float32", "float64")))
def test_same_seed_gives_bit_identical_parameters_after_fit(case, data_seed, n, batch_size,
                                                            epochs, dtype):
    """Two fits with the same random_state on the same data end with bit-identical
    parameters and histories (losses; not the seconds); another random_state gives
    other parameters."""
    X = draw_data(build(case), n, case["D"], np.random.default_rng(data_seed)).astype(dtype)
    fits = [build(case, dtype, epochs=epochs, batch_size=batch_size).fit(X) for _ in range(2)]
    other = case["cls"](**{**case["kwargs"], "random_state": case["seed"] % 2**31 + 1},
                        dtype=dtype, verbose=False, epochs=epochs,
                        batch_size=batch_size).fit(X)
    a, b = fits
    assert list(a.params_) == list(b.params_)
    for k in a.params_:
        assert a.params_[k].dtype == np.dtype(dtype) and np.array_equal(a.params_[k],
                                                                        b.params_[k]), k
    assert _without_clock(a.history_) == _without_clock(b.history_)
    assert _without_clock(getattr(a, "pretrain_history_", {})) == _without_clock(
        getattr(b, "pretrain_history_", {}))
    assert any(not np.array_equal(a.params_[k], other.params_[k]) for k in a.params_)


def _without_clock(history):
    """A history without its wall-clock "seconds" (the only entry that may differ)."""
    if isinstance(history, dict):
        return {k: _without_clock(v) for k, v in history.items() if k != "seconds"}
    return history


BATCH_RTOL = 1e-12   # float64: rows of a matrix product may differ with the BLAS blocking


@examples(40)
@given(case=ALL_CASES, seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40),
       data=st.data())
def test_transform_of_a_batch_equals_the_rows_of_transform_of_the_whole_set(case, seed, n,
                                                                            data):
    """Encoders are row-independent (a k-sparse mask acts within each row), so
    transform(X[idx]) equals transform(X)[idx], and reconstruct and
    reconstruction_error likewise. What holds is
    equality up to rounding, allclose at rtol = atol = 1e-12 in float64: BLAS may sum a
    row's products in another order for another number of rows. Measured (OpenBLAS, slow
    profile, 200 examples, printed with ``-s``): a batch of one row differed in 29 of them,
    by at most 2.2e-16 (NumPy multiplies a single row as a matrix-vector product); batches
    of two or more rows were bit-identical, which this test does not assert as it depends
    on the BLAS and the matrix sizes."""
    rng = np.random.default_rng(seed)
    model = build(case)
    X = draw_data(model, n, case["D"], rng)
    model.initialize(case["D"])
    for k in model.params_:
        model.params_[k] = model.params_[k] + 0.2 * rng.standard_normal(model.params_[k].shape)
    idx = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n)))
    methods = ["transform", "reconstruct"] + (
        ["reconstruction_error"] if hasattr(model, "reconstruction_error") else [])
    for method in methods:
        whole = getattr(model, method)(X)[idx]
        part = getattr(model, method)(X[idx])
        assert part.shape == whole.shape
        np.testing.assert_allclose(part, whole, rtol=BATCH_RTOL, atol=BATCH_RTOL)
        diff = float(np.max(np.abs(part - whole)))
        if diff:
            print(f"{method}: batch of {len(idx)} of {n} rows differs by {diff:.1e}")


# -- 3. every primitive's backward has its input's shape (and dtype) --------------------
shapes = st.tuples(st.integers(1, 6), st.integers(1, 6))


@examples(40)
@given(shape=shapes, n_out=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from((np.float32, np.float64)))
def test_every_primitive_backward_has_the_shape_and_dtype_of_its_input(shape, n_out, seed,
                                                                       dtype):
    """activations, dense, losses, penalties, noises and the VAE's pieces: each gradient
    has the shape and dtype of the array it is the gradient of."""
    rng = np.random.default_rng(seed)
    B, n = shape
    a = rng.standard_normal(shape).astype(dtype)
    G = rng.standard_normal(shape).astype(dtype)

    def same(g, x, what):
        assert g.shape == x.shape, (what, g.shape, x.shape)
        assert g.dtype == x.dtype, (what, g.dtype, x.dtype)

    for act in L.ACTIVATIONS.values():
        h = act.forward(a)
        same(h, a, f"{act.name}.forward")
        same(act.backward(G, a, h), a, f"{act.name}.backward")
    W = rng.standard_normal((n, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    A = L.dense_forward(a, W, b)
    dX, dW, db = L.dense_backward(rng.standard_normal(A.shape).astype(dtype), a, W)
    same(dX, a, "dense dX")
    same(dW, W, "dense dW")
    same(db, b, "dense db")
    X01 = rng.uniform(0, 1, shape).astype(dtype)
    for loss in losses.LOSSES.values():
        same(loss.grad(a, X01), a, f"{loss.name}.grad")
        same(loss.target_grad(a, X01), X01, f"{loss.name}.target_grad")
    h = L.sigmoid(a)
    same(penalties.weight_decay_grad(W, 0.3), W, "weight_decay_grad")
    same(penalties.l1_activity_grad(a, 0.3), a, "l1_activity_grad")
    same(penalties.kl_sparsity_grad(h, 0.1, 2.0), h, "kl_sparsity_grad")
    Wc = rng.standard_normal((n_out, n)).astype(dtype)       # a (D, H) encoder weight
    for grad in (penalties.contractive_grad, penalties.contractive_explicit_grad):
        dh, dWq = grad(h, Wc, 0.5)
        same(dh, h, f"{grad.__name__} dh")
        same(dWq, Wc, f"{grad.__name__} dW")
    for name in noise_mod.NOISES:
        nz = noise_mod.sample_noise(X01, name, 0.3, rng)
        same(nz.apply(X01), X01, f"{name}.apply")
        same(nz.backward(G), G, f"{name}.backward")
    d_mu, d_lv = vae_mod.gaussian_kl_grad(a, G)
    same(d_mu, a, "gaussian_kl_grad mu")
    same(d_lv, G, "gaussian_kl_grad logvar")
    std = np.exp(0.5 * G)
    d_mu, d_lv = vae_mod.reparameterize_backward(a, std, G)
    same(d_mu, a, "reparameterize_backward mu")
    same(d_lv, a, "reparameterize_backward logvar")
    same(vae_mod.soft_bound_backward(G, vae_mod.soft_bound(a, 3.0), 3.0), a,
         "soft_bound_backward")


@examples(40)
@given(shape=shapes, n_out=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_every_primitive_backward_matches_its_forward_at_random_shapes(shape, n_out, seed):
    """check_vjp of each primitive at a random shape and point (float64): activations
    (ReLU pre-activations ≥ MARGIN from 0), dense, both losses in A and in X, the
    penalties (L1 codes ≥ MARGIN from 0), each noise's backward."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    a = np.where(np.abs(a) < MARGIN, a + np.sign(a + 1e-300) * 2 * MARGIN, a)   # |a| ≥ MARGIN
    reports = []
    for act in L.ACTIVATIONS.values():
        reports.append(check_vjp(act.forward, lambda G, x, act=act: act.backward(
            G, x, act.forward(x)), a, names=[act.name], raise_on_fail=False))
    W = rng.standard_normal((shape[1], n_out))
    b = rng.standard_normal(n_out)
    reports.append(check_vjp(L.dense_forward, lambda G, X, W, b: L.dense_backward(G, X, W),
                             a, W, b, raise_on_fail=False))
    X01 = rng.uniform(0.01, 0.99, shape)
    for loss in losses.LOSSES.values():
        reports.append(check_vjp(lambda A, X, loss=loss: loss.value(A, X),
                                 lambda G, A, X, loss=loss: (G * loss.grad(A, X),
                                                             G * loss.target_grad(A, X)),
                                 a, X01, names=["A", "X"], raise_on_fail=False))
    h = L.sigmoid(np.clip(a, -2.5, 2.5))     # ρ̂ within [0.07, 0.93] (KL_EDGE, docstring)
    reports.append(check_vjp(lambda z: penalties.l1_activity(z, 0.7),
                             lambda G, z: G * penalties.l1_activity_grad(z, 0.7), a,
                             raise_on_fail=False))
    reports.append(check_vjp(lambda z: penalties.kl_sparsity(z, 0.1, 2.0),
                             lambda G, z: G * penalties.kl_sparsity_grad(z, 0.1, 2.0), h,
                             raise_on_fail=False))
    Wc = rng.standard_normal((n_out, shape[1]))
    reports.append(check_vjp(lambda z, W: penalties.contractive(z, W, 0.5),
                             lambda G, z, W: tuple(G * g for g in
                                                   penalties.contractive_grad(z, W, 0.5)),
                             h, Wc, raise_on_fail=False))
    for name in noise_mod.NOISES:
        nz = noise_mod.sample_noise(X01, name, 0.3, rng)
        reports.append(check_vjp(nz.apply, lambda G, X, nz=nz: nz.backward(G), X01,
                                 names=[name], raise_on_fail=False))
    for r in reports:
        assert r.passed, r.table()


# -- 4. the regularizer rules: allowed combinations build, the others name the argument ---
@st.composite
def any_autoencoder_settings(draw):
    """Autoencoder settings drawn without regard to the rules (valid values each)."""
    depth = draw(st.integers(1, 3))
    sizes = tuple(draw(st.integers(1, 5)) for _ in range(depth))
    return dict(hidden_layer_sizes=sizes,
                activation=tuple(draw(st.sampled_from(ACTIVATIONS)) for _ in sizes),
                tied_weights=draw(st.booleans()),
                decoder_layer_sizes=draw(st.sampled_from((None, (3,)))),
                sparsity=draw(st.sampled_from((None, "l1", "kl"))),
                sparsity_weight=draw(st.sampled_from((0.0, 0.5))),
                k=draw(st.sampled_from((None, 1, 2, 4, 6))),
                k_alpha=draw(st.sampled_from((1.0, 0.1, 3.0))),
                noise=draw(st.sampled_from(NOISES)),
                noise_level=draw(st.sampled_from((0.0, 0.3, 1.5))),
                contractive_weight=draw(st.sampled_from((0.0, 0.5))))


def autoencoder_rule_violations(kw):
    """The documented rules (npae.models.autoencoder, _validate_regularizers), written out
    independently: a list of (argument, regex its error message must match)."""
    sizes, acts = kw["hidden_layer_sizes"], kw["activation"]
    H, code = sizes[-1], acts[-1]
    bad = []
    if kw["tied_weights"] and kw["decoder_layer_sizes"] is not None:
        bad.append(("tied_weights", r"tied_weights"))
    dec = kw["decoder_layer_sizes"]
    if dec is not None and not isinstance(acts, str) and len(set(acts)) > 1:
        # decoder_activation=None with an explicit decoder: one encoder activation serves
        # any decoder depth, several different ones cannot be mirrored onto it
        bad.append(("decoder_activation", r"set decoder_activation"))
    if kw["sparsity"] is None and kw["sparsity_weight"] > 0:
        bad.append(("sparsity_weight", r"sparsity_weight"))
    if kw["sparsity"] == "kl" and code != "sigmoid":
        bad.append(("sparsity", r"sparsity='kl'.*activation"))
    if kw["k"] is not None:
        if kw["k"] > H:
            bad.append(("k", r"^k must"))
        if kw["sparsity"] is not None:
            bad.append(("k", r"^k \(a k-sparse code\) and sparsity"))
        if not 1 <= round(kw["k_alpha"] * kw["k"]) <= H:
            bad.append(("k_alpha", r"^k_alpha"))
    if kw["noise"] is None and kw["noise_level"] > 0:
        bad.append(("noise_level", r"^noise_level"))
    if kw["noise"] in ("masking", "salt_and_pepper") and kw["noise_level"] > 1:
        bad.append(("noise_level", r"^noise_level"))
    if kw["contractive_weight"] > 0 and (len(sizes) != 1 or code != "sigmoid"):
        bad.append(("contractive_weight", r"^contractive_weight"))
    return bad


@examples(200)
@given(kw=any_autoencoder_settings())
def test_autoencoder_builds_iff_the_rules_allow_and_errors_name_the_argument(kw):
    """initialize(D) succeeds exactly when no rule is broken; otherwise it raises a
    ValueError whose message is the one of a broken rule (naming its argument)."""
    bad = autoencoder_rule_violations(kw)
    model = Autoencoder(**kw, dtype="float64", verbose=False)   # __init__ never validates
    if not bad:
        model.initialize(3)
        return
    with pytest.raises(ValueError) as info:
        model.initialize(3)
    message = str(info.value)
    assert any(re.search(rx, message, re.S) for _, rx in bad), (bad, message)


@st.composite
def any_vae_settings(draw):
    return dict(output=draw(st.sampled_from(("bernoulli", "gaussian"))),
                decoder_variance=draw(st.sampled_from((1.0, 2.0, "learned", 0.0, -1.0,
                                                       "fixed"))),
                binarize=draw(st.booleans()),
                logvar_bound=draw(st.sampled_from((None, 30.0, 0.0, -5.0))),
                beta=draw(st.sampled_from((1.0, 0.0, -1.0))))


def vae_rule_violations(kw):
    """The VAE's documented rules, written out: (argument, regex of its message)."""
    bad, dv = [], kw["decoder_variance"]
    if isinstance(dv, str):
        if dv != "learned" or kw["output"] != "gaussian":
            bad.append(("decoder_variance", r"^decoder_variance"))
    elif dv <= 0 or (kw["output"] != "gaussian" and dv != 1.0):
        bad.append(("decoder_variance", r"^decoder_variance"))
    if kw["logvar_bound"] is not None and kw["logvar_bound"] <= 0:
        bad.append(("logvar_bound", r"^logvar_bound"))
    if kw["beta"] < 0:
        bad.append(("beta", r"^beta"))
    if kw["binarize"] and kw["output"] != "bernoulli":
        bad.append(("binarize", r"^binarize"))
    return bad


@examples(100)
@given(kw=any_vae_settings())
def test_vae_builds_iff_the_rules_allow_and_errors_name_the_argument(kw):
    """The same for the VAE's decoder variance, logvar_bound, β and binarize."""
    bad = vae_rule_violations(kw)
    model = VAE(hidden_layer_sizes=(3,), latent_dim=2, **kw, dtype="float64", verbose=False)
    if not bad:
        model.initialize(3)
        return
    with pytest.raises(ValueError) as info:
        model.initialize(3)
    assert any(re.search(rx, str(info.value), re.S) for _, rx in bad), (bad, str(info.value))
