"""Corruption processes for denoising autoencoders: draw once, then apply and backpropagate.

A denoising autoencoder (Vincent et al. 2008, 2010) encodes a corrupted copy x̃ of
each example and is asked to reconstruct the clean x. To keep a training step a pure
function (docs/notation.md, "the pure step"), the randomness is drawn first, by
``sample``, into a small frozen record; applying the record is then deterministic and
differentiable in x.

Notation (docs/notation.md): X (B, D) the clean batch, X̃ (B, D) the corrupted one, p a
probability, s ≥ 0 the corruption's standard deviation, [lo, hi] the data range. Tags
(D1)-(D8) are this module's; cited from elsewhere they read "noise (D3)". "A fraction
p of the entries" below means each entry independently with probability p: the
fraction in one batch is p only in expectation (it is Binomial(B·D, p) / (B·D)).

Gaussian, ε ~ N(0, I) drawn once:

    (D1)  X̃ = X + s ε                                     every entry moves a little
    (D2)  ∂ℒ/∂X = ∂ℒ/∂X̃                                   ∂x̃/∂x = 1

Masking noise, m ~ Bernoulli(1 − p) drawn once (each entry dropped with probability p):

    (D3)  X̃ = X ⊙ m                                       each pixel set to 0 with probability p
    (D4)  ∂ℒ/∂X = ∂ℒ/∂X̃ ⊙ m                               dropped entries do not depend on x

Dropout noise, m ~ Bernoulli(1 − p) drawn once, the kept entries scaled up (inverted
dropout, Srivastava et al. 2014; the input dropout of Mult-DAE/Mult-VAE, Liang et al. 2018):

    (D7)  X̃ = X ⊙ m / (1 − p)                              0 w.p. p, else x / (1 − p)
    (D8)  ∂ℒ/∂X = ∂ℒ/∂X̃ ⊙ m / (1 − p)

The scale keeps every entry's expectation: E[x̃] = (1 − p) · x / (1 − p) = x, so at
test time (no corruption) the encoder sees inputs of the size it was trained on.
Masking (D3) is the same draw without the scale. p = 1 would drop everything and
divide by zero: p must lie in [0, 1).

Salt-and-pepper noise, r ~ Bernoulli(p) marks the replaced entries and, for each,
v = lo or hi with probability ½ each, drawn once:

    (D5)  X̃ = X ⊙ (1 − r) + v ⊙ r                         each entry, w.p. p, set to lo or hi
    (D6)  ∂ℒ/∂X = ∂ℒ/∂X̃ ⊙ (1 − r)

The replacement values v are constants held in the record (the model learns lo and
hi from its training data at ``fit`` time, see ``Autoencoder._prepare``), never the
minimum and maximum of the batch being corrupted: so (D5) is differentiable in x,
with derivative 1 on kept entries and 0 on replaced ones, and the input gradient of a
denoising step can be checked by finite differences. All three are one affine map
X̃ = X ⊙ keep + offset; they are written separately so each reads like its equation.

References: P. Vincent, H. Larochelle, Y. Bengio, P.-A. Manzagol, "Extracting and
composing robust features with denoising autoencoders", ICML 2008; Vincent et al.,
"Stacked denoising autoencoders", JMLR 11, 2010, §4.2 (the three corruptions);
N. Srivastava et al., "Dropout", JMLR 15, 2014; D. Liang, R. G. Krishnan, M. D. Hoffman,
T. Jebara, "Variational autoencoders for collaborative filtering", WWW 2018, §2.2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_array, check_scalar

__all__ = ["GaussianNoise", "MaskingNoise", "DropoutNoise", "SaltAndPepperNoise", "NOISES", "sample_noise",
           "get_noise"]


def _check_shape(noise_array, X, what):
    if noise_array.shape != X.shape:
        raise ValueError(f"this {what} was drawn for a batch of shape {noise_array.shape}, "
                         f"but X has shape {X.shape}; draw it with sample_noise(X, rng)")


@dataclass(frozen=True)
class GaussianNoise:
    """Additive Gaussian noise x̃ = x + s ε: ``eps`` (B, D) ~ N(0, I), ``scale`` s ≥ 0."""

    eps: np.ndarray
    scale: float
    name = "gaussian"

    @classmethod
    def sample(cls, X, level, rng):
        s = check_scalar(level, "noise_level", 0, None)
        return cls(eps=rng.standard_normal(X.shape).astype(X.dtype, copy=False), scale=s)

    def apply(self, X):
        _check_shape(self.eps, X, "Gaussian noise")
        return X + self.scale * self.eps                 # (D1) (B, D)

    def backward(self, dX_tilde):
        return dX_tilde                                  # (D2)


@dataclass(frozen=True)
class MaskingNoise:
    """Masking noise x̃ = x ⊙ m: ``mask`` (B, D) of 0/1, each entry 0 with probability p."""

    mask: np.ndarray
    name = "masking"

    @classmethod
    def sample(cls, X, level, rng):
        p = check_scalar(level, "noise_level", 0, 1)
        keep = rng.random(X.shape) >= p                  # P(keep) = 1 − p
        return cls(mask=keep.astype(X.dtype))

    def apply(self, X):
        _check_shape(self.mask, X, "mask")
        return X * self.mask                             # (D3) (B, D)

    def backward(self, dX_tilde):
        return dX_tilde * self.mask                      # (D4)


@dataclass(frozen=True)
class DropoutNoise:
    """Inverted dropout x̃ = x ⊙ m / (1 − p): ``mask`` (B, D) of 0/1 (each entry 0 w.p. p)
    and ``p`` ∈ [0, 1)."""

    mask: np.ndarray
    p: float
    name = "dropout"

    @classmethod
    def sample(cls, X, level, rng):
        p = check_scalar(level, "noise_level", 0, 1, high_open=True)
        keep = rng.random(X.shape) >= p                  # P(keep) = 1 − p
        return cls(mask=keep.astype(X.dtype), p=p)

    @property
    def scale(self):
        """1 / (1 − p), the factor of every kept entry."""
        return 1.0 / (1.0 - self.p)

    def apply(self, X):
        _check_shape(self.mask, X, "dropout mask")
        return X * self.mask * self.scale                # (D7) (B, D)

    def backward(self, dX_tilde):
        return dX_tilde * self.mask * self.scale         # (D8) (B, D)


@dataclass(frozen=True)
class SaltAndPepperNoise:
    """Salt-and-pepper noise: ``replaced`` (B, D) bool, ``values`` (B, D) = lo or hi there."""

    replaced: np.ndarray
    values: np.ndarray
    name = "salt_and_pepper"

    @classmethod
    def sample(cls, X, level, rng, low=0.0, high=1.0):
        p = check_scalar(level, "noise_level", 0, 1)
        low = check_scalar(low, "low")
        high = check_scalar(high, "high")
        if low > high:
            raise ValueError(f"the salt-and-pepper range needs low <= high, got [{low}, {high}]")
        replaced = rng.random(X.shape) < p               # r ~ Bernoulli(p)
        salt = rng.random(X.shape) < 0.5                 # hi or lo with probability ½ each
        values = np.where(salt, high, low).astype(X.dtype) * replaced
        return cls(replaced=replaced, values=values)

    def apply(self, X):
        _check_shape(self.replaced, X, "salt-and-pepper draw")
        return np.where(self.replaced, self.values, X)   # (D5) X ⊙ (1 − r) + v ⊙ r

    def backward(self, dX_tilde):
        return dX_tilde * ~self.replaced                 # (D6) (B, D)


NOISES = {cls.name: cls for cls in (GaussianNoise, MaskingNoise, DropoutNoise,
                                    SaltAndPepperNoise)}


def get_noise(name, argument="noise"):
    """The noise class for ``name``; the error names the argument and the choices."""
    try:
        return NOISES[name]
    except (KeyError, TypeError):
        raise ValueError(f"{argument} must be None or one of {sorted(NOISES)}, "
                         f"got {name!r}") from None


def check_noise(noise, noise_level):
    """A model's ``noise`` and ``noise_level``: a kind of npae's (or None, with level 0),
    s >= 0 for "gaussian", a probability p in [0, 1] for the others. Returns the class."""
    if noise is None:
        check_scalar(noise_level, "noise_level", 0, None)
        if noise_level > 0:
            raise ValueError(f"noise_level={noise_level} has no effect with noise=None: set "
                             f"noise to one of {sorted(NOISES)}")
        return None
    cls = get_noise(noise)
    check_scalar(noise_level, "noise_level", 0, None if noise == "gaussian" else 1)
    return cls


def sample_noise(X, noise, level, rng, data_range=(0.0, 1.0)):
    """Draw one corruption of kind ``noise`` for batch ``X`` from the Generator ``rng``.

    ``level`` is s for ``"gaussian"`` and p for the other two; ``data_range`` = (lo, hi)
    are the salt-and-pepper values. Returns a record with ``apply(X)`` and ``backward``.
    """
    X = check_array(X, "X", ndim=2)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                         f"got {type(rng).__name__}")
    cls = get_noise(noise)
    if cls is SaltAndPepperNoise:
        return cls.sample(X, level, rng, low=data_range[0], high=data_range[1])
    return cls.sample(X, level, rng)
