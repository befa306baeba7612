r"""Linear probe: multinomial logistic regression on fixed features, fitted by L-BFGS.

Why it is here: an autoencoder is not trained to classify, yet a good code should make
the classes easy to read off. The standard measurement (Alain & Bengio 2016, "linear
classifier probes") is the test accuracy of a *linear* classifier trained on the
codes: whatever a linear map can recover, the code holds in an accessible form.
Comparing it with the same probe on raw pixels says what the encoder added.

Notation (shapes)
-----------------
    B, D, C      number of examples, features, classes
    X            features, one example per row                       (B, D)
    y            class index of each example, y_n ∈ {0, …, C−1}      (B,)
    Y            one-hot targets, Y_nc = [y_n = c]                   (B, C)
    W, b         weights and biases                                  (D, C), (C,)
    A            logits                                              (B, C)
    P            class probabilities, softmax of each row of A        (B, C)
    λ            ``l2``, weight decay on W (not on b)

Forward
-------
    (F1)  A = X W + b
    (F2)  log P_nc = A_nc − lse(A_n),   lse(a) = m + log Σ_c exp(a_c − m),  m = max_c a_c
    (F3)  L = (1/B) Σ_n [lse(A_n) − A_{n, y_n}] + (λ/2) ‖W‖_F²

(F2) subtracts the row maximum before exponentiating: exp never overflows, and the
largest term is exp(0) = 1, so the sum never underflows to 0 and its log is finite.
(F3) is the mean of −log P_{n, y_n}, the cross-entropy between Y and P.

Backward
--------
For one example, ∂ lse(a)/∂a_c = exp(a_c) / Σ_c' exp(a_c') = softmax(a)_c and
∂ a_y/∂a_c = [c = y], so

    (B1)  dL/dA = (P − Y) / B                     (the 1/B of the mean in F3)
    (B2)  dL/dW = Xᵀ (dL/dA) + λ W
    (B3)  dL/db = Σ_n (dL/dA)_n

L is convex in (W, b) (lse convex, rest linear; not strict in b: b + c·1 gives the same L; ridge on
W), so every local minimum is global and the fit does not depend on a seed: W starts
at zero.

Optimizer: L-BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed., algorithm 7.4
and 7.5), full batch. It keeps the last m pairs s_i = θ_{i+1} − θ_i,
y_i = ∇L(θ_{i+1}) − ∇L(θ_i) and applies an approximation of the inverse Hessian to the
gradient by the two-loop recursion; a backtracking line search enforces the Armijo
condition L(θ + t d) ≤ L(θ) + c₁ t ∇Lᵀd. Unlike SGD it needs no learning rate or batch
size, and it reaches a far smaller gradient in a few hundred full passes.

Features are standardized by default (each column minus its training mean, divided by
its training standard deviation; a column with zero standard deviation, such as a
pixel that is 0 in every training image, is divided by 1 instead). This makes one
value of λ and of the tolerance suit pixels (0–255) and codes (≈ 0–1) alike.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, 2006, section 4.3.4.
J. Nocedal, S. J. Wright, Numerical Optimization, 2nd ed., Springer 2006, ch. 7.
G. Alain, Y. Bengio, "Understanding intermediate layers using linear classifier
    probes", arXiv:1610.01644, 2016.
"""
from __future__ import annotations


import numpy as np

from ._validation import check_array, check_float_dtype, check_positive_int, check_scalar
from .estimator import Estimator
from .models.base import NotFittedError

__all__ = ["LinearProbe", "softmax_cross_entropy", "linear_probe_accuracy"]


def log_softmax(A):
    """(F2) row-wise log-softmax with the row maximum subtracted, shape of ``A``."""
    m = np.max(A, axis=1, keepdims=True)                          # (B, 1)
    shifted = A - m                                               # (B, C) all ≤ 0
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def softmax_cross_entropy(params, X, y, l2=0.0):
    """(F1)–(F3) and (B1)–(B3): mean cross-entropy + (λ/2)‖W‖² and its gradients.

    ``params`` is ``{"W": (D, C), "b": (C,)}``, ``X`` is (B, D), ``y`` holds class
    indices in [0, C). Returns ``(loss, {"W": dW, "b": db})``.
    """
    W, b = params["W"], params["b"]
    B = X.shape[0]
    rows = np.arange(B)
    A = X @ W + b                                                 # (F1) (B, C)
    logP = log_softmax(A)                                         # (F2) (B, C)
    loss = -np.mean(logP[rows, y]) + 0.5 * l2 * np.sum(W * W)     # (F3)

    dA = np.exp(logP)                                             # P, (B, C)
    dA[rows, y] -= 1.0                                            # P − Y
    dA /= B                                                       # (B1) the mean's 1/B
    dW = X.T @ dA + l2 * W                                        # (B2) (D, C)
    db = np.sum(dA, axis=0)                                       # (B3) (C,)
    return float(loss), {"W": dW, "b": db}


def _lbfgs(fun, theta, max_iter, tol, memory, rel_noise=1e-12, verbose=False):
    """Minimize ``fun(θ) -> (f, g)`` over a flat float64 vector θ.

    Returns (θ, f, n_iter, converged). Stops when max_i |g_i| ≤ tol (converged), when
    f decreases by less than ``rel_noise``·max(|f|, 1) (the rounding level of the
    dtype f is computed in), when the line search cannot decrease f, or after
    ``max_iter`` iterations.
    """
    f, g = fun(theta)
    s_hist, y_hist = [], []
    c1 = 1e-4                                                     # Armijo constant
    for it in range(1, max_iter + 1):
        if np.max(np.abs(g)) <= tol:
            return theta, f, it - 1, True
        # two-loop recursion: d = −H g, H the L-BFGS inverse-Hessian approximation
        q = g.copy()
        alphas = []
        for s, yv in zip(reversed(s_hist), reversed(y_hist)):
            rho = 1.0 / (yv @ s)
            alpha = rho * (s @ q)
            q -= alpha * yv
            alphas.append((rho, alpha))
        if s_hist:
            q *= (s_hist[-1] @ y_hist[-1]) / (y_hist[-1] @ y_hist[-1])   # H₀ = γ I
        for (s, yv), (rho, alpha) in zip(zip(s_hist, y_hist), reversed(alphas)):
            q += (alpha - rho * (yv @ q)) * s
        d = -q
        slope = g @ d
        if slope >= 0:                                            # not a descent direction
            s_hist.clear(), y_hist.clear()
            d, slope = -g, -(g @ g)
        t = 1.0 if s_hist else min(1.0, 1.0 / np.sum(np.abs(g)))
        for _ in range(20):                                       # backtracking (Armijo)
            theta_new = theta + t * d
            f_new, g_new = fun(theta_new)
            if f_new <= f + c1 * t * slope:
                break
            t *= 0.5
        else:                                # t = 2⁻²⁰ still fails: f is flat to rounding
            return theta, f, it, bool(np.max(np.abs(g)) <= tol)
        s, yv = theta_new - theta, g_new - g
        if s @ yv > 1e-10 * (yv @ yv):                            # keep H positive definite
            s_hist.append(s), y_hist.append(yv)
            if len(s_hist) > memory:
                s_hist.pop(0), y_hist.pop(0)
        decrease = f - f_new
        theta, f, g = theta_new, f_new, g_new
        if verbose:
            print(f"iteration {it:4d}  loss {f:.6f}  max|grad| {np.max(np.abs(g)):.2e}")
        if decrease <= rel_noise * max(abs(f), 1.0):
            return theta, f, it, bool(np.max(np.abs(g)) <= tol)
    return theta, f, max_iter, bool(np.max(np.abs(g)) <= tol)


def _check_labels(y, n):
    if y is None:
        raise ValueError("y must be the class labels (one integer per row of X), got None")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-dimensional (one label per example), got shape {y.shape}")
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if len(y) != n:
        raise ValueError(f"y has {len(y)} labels but X has {n} rows")
    return y


def _column_scale(X):
    """Training mean and standard deviation of each column, (D,) float64, at any scale.

    The mean accumulates in float64. The standard deviation is computed from the
    centred columns divided by their largest magnitude first, std = a √(mean((x/a)²)),
    a = max |x − mean|: squaring float32 values of 1e20 would overflow (1e40 > 3.4e38)
    and values of 1e-25 would underflow to 0, while x/a lies in [−1, 1]. A column with
    zero spread is divided by 1.
    """
    mean = X.mean(axis=0, dtype=np.float64)                       # (D,)
    Xc = X - mean.astype(X.dtype)                                 # (B, D) centred copy
    peak = np.max(np.abs(Xc), axis=0).astype(np.float64)          # (D,) a
    safe = np.where(peak > 0, peak, 1.0)
    Xc /= safe.astype(X.dtype)                                    # in [−1, 1]
    std = peak * np.sqrt(np.mean(np.square(Xc), axis=0, dtype=np.float64))
    return mean, np.where(std > 0, std, 1.0)


def _check_unstandardized_scale(X):
    """With standardize=False, refuse data whose scale the absolute ``tol`` cannot follow.

    The gradient at W = 0 is Xᵀ(P − Y)/B, proportional to the scale of X, and ``tol``
    and ``l2`` are absolute: on a separable 5-feature set (tests/test_probe.py) the
    unstandardized fit reached chance accuracy (0.55) at a scale of 1e-3 and below and at
    1e10 and above (1.00 from 1 to 1e6). Peaks outside [1e-2, 1e6] are refused.
    """
    peak = float(np.max(np.abs(X)))
    if not 1e-2 <= peak <= 1e6:
        raise ValueError(f"X has entries of magnitude up to {peak:.3g}: with standardize=False "
                         f"the fit's tolerances are absolute and at a scale outside [1e-2, 1e6] "
                         f"it stops near W = 0; use standardize=True (the default) or rescale X")


class LinearProbe(Estimator):
    """Multinomial logistic regression (module docstring: F1–F3, B1–B3), L-BFGS fit.

    Parameters
    ----------
    l2 : λ ≥ 0, weight decay on W in (F3).
    max_iter : maximum number of L-BFGS iterations (each costs one or a few passes).
    tol : stop when every gradient entry is at most this in absolute value.
    memory : number of (s, y) pairs L-BFGS keeps.
    standardize : standardize features with the training mean and standard deviation.
    dtype : float32 (default, as for every npae model: the two matrix products of each
        pass run twice as fast and MNIST reaches the same accuracy) or float64 (for
        gradient checks and tight tolerances). The optimizer's own vectors are float64.
    verbose : print the loss at every iteration.

    The fit is deterministic (convex loss, zero start): there is no random_state.

    Fitted attributes: ``classes_`` (C,), ``params_`` {"W": (D, C), "b": (C,)} acting on
    standardized features, ``mean_``, ``scale_`` (D,), ``loss_``, ``n_iter_``,
    ``converged_``.
    """

    _sklearn_kind = "classifier"

    def __init__(self, l2=1e-4, max_iter=100, tol=1e-5, memory=10, standardize=True,
                 dtype=np.float32, verbose=False):
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol
        self.memory = memory
        self.standardize = standardize
        self.dtype = dtype
        self.verbose = verbose

    def loss_and_grads(self, params, X, y):
        """(F3) and (B1)–(B3) at ``params`` on features ``X`` (already standardized)."""
        return softmax_cross_entropy(params, X, y, self.l2)

    def fit(self, X, y):
        """Fit W, b by L-BFGS on (X, y); labels may be any integers. Returns self."""
        check_scalar(self.l2, "l2", low=0)
        check_positive_int(self.max_iter, "max_iter")
        check_scalar(self.tol, "tol", low=0)
        check_positive_int(self.memory, "memory")
        if self.standardize not in (True, False):
            raise ValueError(f"standardize must be True or False, got {self.standardize!r}")
        dtype = self._dtype
        X = check_array(X, "X", ndim=2, dtype=dtype)              # the working dtype
        y = _check_labels(y, X.shape[0])
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y must contain at least 2 classes, got only {classes}")
        D, C = X.shape[1], len(classes)
        if self.standardize:
            mean, scale = _column_scale(X)
            X = (X - mean.astype(dtype)) / scale.astype(dtype)    # (B, D) a standardized copy
        else:
            mean, scale = np.zeros(D), np.ones(D)
            _check_unstandardized_scale(X)

        def fun(theta):                                           # flat θ = (W, b), float64
            params = {"W": theta[:D * C].reshape(D, C).astype(dtype),
                      "b": theta[D * C:].astype(dtype)}
            loss, grads = self.loss_and_grads(params, X, y_idx)
            return float(loss), np.concatenate([grads["W"].ravel(), grads["b"]]).astype(
                np.float64)

        theta, loss, n_iter, converged = _lbfgs(
            fun, np.zeros(D * C + C), self.max_iter, self.tol, self.memory,
            rel_noise=10 * np.finfo(dtype).eps, verbose=self.verbose)
        # all fitted attributes at once: a fit that raises leaves the previous fit intact
        self.classes_, self.mean_, self.scale_ = classes, mean, scale
        self.loss_, self.n_iter_, self.converged_ = loss, n_iter, converged
        self.n_features_in_ = D
        self.params_ = {"W": theta[:D * C].reshape(D, C).astype(dtype),
                        "b": theta[D * C:].astype(dtype)}
        return self

    @property
    def _dtype(self):
        return check_float_dtype(self.dtype)

    def _logits(self, X):
        if not hasattr(self, "params_"):
            raise NotFittedError("this LinearProbe is not fitted yet; call fit(X, y) first")
        dtype = self.params_["W"].dtype
        X = check_array(X, "X", ndim=2, dtype=dtype, n_features=self.params_["W"].shape[0])
        Xs = (X - self.mean_.astype(dtype)) / self.scale_.astype(dtype)   # as in fit
        return Xs @ self.params_["W"] + self.params_["b"]         # (F1) (B, C)

    def predict_proba(self, X):
        """Class probabilities P (F2), shape (B, C), columns in the order of classes_."""
        return np.exp(log_softmax(self._logits(X)))

    def predict(self, X):
        """Most probable class label of each row, shape (B,)."""
        A = self._logits(X)                                       # checks fitted and X
        return self.classes_[np.argmax(A, axis=1)]

    def score(self, X, y):
        """Accuracy: the fraction of rows whose predicted label equals y."""
        predicted = self.predict(X)                               # checks X
        y = _check_labels(y, len(predicted))
        return float(np.mean(predicted == y))


def linear_probe_accuracy(Z_train, y_train, Z_test, y_test, **kwargs):
    """Fit a :class:`LinearProbe` (``kwargs``) on (Z_train, y_train); test accuracy."""
    return LinearProbe(**kwargs).fit(Z_train, y_train).score(Z_test, y_test)
