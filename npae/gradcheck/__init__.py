"""Finite-difference gradient checks that diagnose the bug and never pass what they cannot prove.

A backward pass is proven by comparing it, array by array, with central differences
of the forward pass, in float64 (npae.gradcheck.numeric):

    (N1)  n_i = [L(θ + ε e_i) − L(θ − ε e_i)] / (2ε)                     error O(ε²)
    (N1') n_i = [8(L(θ + ε e_i) − L(θ − ε e_i)) − (L(θ + 2ε e_i) − L(θ − 2ε e_i))] / (12ε)
    (N2)  rel(a, n) = ‖a − n‖₂ / max(‖a‖₂ + ‖n‖₂, 1e-12)        over the whole array
    (N3)  n_v = d/dt L(θ + t v) at t = 0                           along a direction v
    (N4)  ê = 4 max_i |n_i(ε) − n_i(ε/2)| + 10 u max|L| / ε         the check's own error
    (N5)  within ê, b = max_i |a_i|: b ≥ 100 ê or b ≤ ê / 100 pass, between: cannot judge

Why order 4 with ε = 1e-3. The error of n has a truncation part, about ε² L'''/6 for
(N1) and ε⁴ L⁽⁵⁾/30 for (N1'), and a rounding part, about u |L| / ε with u = 1.1e-16.
(N1) balances them near ε = 1e-5 at an absolute error of about 1e-10 (for |L| ≈ 1),
fine for large gradients but a relative error of 1e-6 for a gradient of 1e-4 (the bias
of a deep sigmoid layer). (N1') at ε = 1e-3 has truncation ≈ 3e-14 L⁽⁵⁾ and rounding
≈ 1e-13 |L|, so npae uses it by default (``order=4``); ``order=2`` is the textbook (N1).

Three verdicts. Each row (one array of one term) gets one of

* **pass** when rel(a, n) ≤ tol (1e-7; ``rel`` in the table), or when
  max_i |a_i − n_i| ≤ ê, the error of this very check (N4), *and* that agreement proves
  something (``abs``; (N5) in npae.gradcheck.numeric). Halving ε doubles the rounding
  part of n and shrinks its truncation part 16-fold, so the disagreement of the two
  stencils bounds both (ê is computed only for a row that fails the relative test).
  Within ê, a is within 2ê of the true gradient and no closer, so the agreement is a
  pass only when the largest analytic entry b is resolved, b ≥ 100 ê (an error above
  2 % of b, a wrong sign, factor or batch size among them, would have failed), or a
  rounding-level zero, b ≤ ê / 100. The relative test alone fails correct code wherever
  the true gradient is exactly zero — every ρ̂_j = ρ of a KL penalty, log σ² = 0 in a
  VAE's KL, a ReLU's dead units, a symmetric initialization: there n is pure rounding
  (≈ 1e-12), a = 0, and rel = 1; (N5) passes those.
* **FAIL** when max|a − n| > ê, with a diagnosis of the bug. An error of 1e-6 in a
  gradient of size 1 (ê ≈ 1e-12 for a loss of order 1) exceeds (N4) 10⁵-fold.
* **cannot judge** when the check cannot tell a right gradient from a wrong one. It is
  never counted as passed: ``report.passed`` is False, ``raise_on_fail`` raises, the
  CLI exits with status 3. Either (i) the gradient is below this check's resolution,
  ê / 100 < b < 100 ê, where a sign flip or a factor 2 agrees within ê as well as the
  truth does — for L(W) = 2·10⁵ + 10⁻⁷ Σ sin(W_i), ê ≈ 4e-7 comes from the rounding
  of |L| alone while the gradient is 1e-7 — and the row says what would resolve it (a
  smaller constant offset in the loss, a larger scale, another upstream G); or (ii) ê
  itself is large (above 1e-6 · max(1, |n|)): the stencils disagree, the forward has a
  kink or a top-k tie within 2ε, and the row says to move the point.

An explicit ``atol=`` replaces (N4) and is the caller's own bound: within it is a pass.
The table shows both errors, the atol used and the verdict (``rel``, ``abs``, ``NO``
or ``cannot judge``); ``report.verdict`` is ``PASS``, ``FAIL`` or ``CANNOT JUDGE``.

Where a model is checked. ``check_model`` checks near the model's parameters θ, at
θ + 10⁻³ ξ with ξ ~ N(0, I) drawn from its ``seed``, not at θ: right after
``initialize`` every bias is 0, and a bug that multiplies a bias (weight decay applied
to the biases) is 0 there too. The report's first line says so; ``at="current"``
checks θ itself (a point chosen on purpose: away from kinks, or an exact zero).

The diagnosis (npae.gradcheck.diagnosis). Every failing row says what the error looks
like, in words a student acts on: a constant factor c = ⟨a, n⟩/⟨n, n⟩ named when it is
±1 (sign flipped), ±2, ±½, the batch size B or 1/B, or a hyperparameter (β, λ, …); a
transposed gradient; only some rows / columns / entries wrong, or the same error on
every row; analytic zero where numeric is not (a term left out); NaN or inf, and where.
For a model check the row also names the term and the equations the model cites for it:
"term `sparsity`, array `enc.0.b`: analytic = −1 × numeric everywhere (the sign is
flipped): see (F8), (B8) in npae/models/autoencoder.py; (P3)-(P9) in npae/penalties.py".

Directional mode, for models of any size. Entrywise differences cost 4 forward passes
per parameter: 4.3 million for a 784-512-256-32 autoencoder. With ``directions=K`` the
check draws K random unit directions v over all arrays together and K over each array
alone, and compares ⟨∇L, v⟩ with (N3): 4 K (1 + #arrays) forward passes in all. An error
δ in one array changes ⟨∇L, v⟩ by ⟨δ, v⟩, which for a random v is zero only on a set
of measure zero, so a 1% error in any single array is caught at K = 8 with
probability ≈ 1: its per-array row sees a = 1.01 n, whose (N2) is 0.01 / 2.01 ≈ 5e-3
(the norms of a and n are added), 5·10⁴ × tol.

What a check cannot prove: that the forward pass matches the equations. It shows the
backward matches the *forward*; npae's tests check the forward against the math apart.

Entry points:

* :func:`check_gradients` — ``fun(params) -> (loss, grads)`` over a dict of arrays;
* :func:`check_vjp` — any ``forward(*inputs)`` with its ``backward(G, *inputs)``;
* :func:`check_jacobian` — a vector map against its Jacobian;
* :func:`check_input_gradient`, :func:`check_model` — a model's ``loss_and_grads``,
  each term alone and all together, and the input gradient;
* every one returns a :class:`GradCheckReport`: ``.table()``, ``.passed``, rows with
  ``.diagnosis``, ``.to_dict()`` / ``.to_json()``.

From the command line::

    python -m npae gradcheck sparse                      # a small model, every term
    python -m npae gradcheck vae --directions 8 --json   # directional, as JSON
    python -m npae gradcheck --function my.py:forward:backward --shape 4,3 --shape 3
"""
from .checks import (DEFAULT_EPS, DEFAULT_ORDER, DEFAULT_TOL, PERTURBATION, check_gradients,
                     check_input_gradient, check_jacobian, check_model, check_vjp,
                     perturbed_point)
from .diagnosis import diagnose
from .numeric import directional_derivative, numerical_gradient, relative_error
from .report import CheckRow, GradCheckReport, GradientCheckError

__all__ = ["CheckRow", "DEFAULT_EPS", "DEFAULT_ORDER", "DEFAULT_TOL", "GradCheckReport",
           "GradientCheckError", "PERTURBATION", "check_gradients", "check_input_gradient",
           "check_jacobian", "check_model", "check_vjp", "diagnose", "directional_derivative",
           "numerical_gradient", "perturbed_point", "relative_error"]
