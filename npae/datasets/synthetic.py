"""Data made offline: glyph digits, 2-D toy manifolds, natural-image patches.

:func:`load_glyph_digits` renders the digits 0-9 from fonts that matplotlib ships, with a
random affine map and stroke width per sample, in MNIST's format (white on black, 28 x 28,
the longest side about 20 px, centred by centre of mass): the default digits when MNIST
is not on disk. :func:`make_manifold` draws points on 1-D curves in the plane.
:func:`load_patches` cuts (whitened) patches from matplotlib's sample photograph. All are
offline and bit-identical for the same ``seed``. matplotlib is imported inside the
functions that need it, on first use, because loading it takes about a second.
"""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

from .._validation import check_choice, check_dtype, check_positive_int, check_scalar

__all__ = ["DEFAULT_GLYPH_FONTS", "load_glyph_digits", "load_patches", "make_manifold"]

# --------------------------------------------------------------------------- glyph digits

#: Fonts shipped with matplotlib (file stems in ``matplotlib.get_data_path()/fonts/ttf``).
#: DejaVu Sans Mono is left out: its zero carries a dot, which no MNIST zero has.
DEFAULT_GLYPH_FONTS = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
    "cmr10", "cmss10", "cmtt10", "cmb10", "cmti10",
)
_CANVAS = 64        # P: side of one template, in template pixels (tpx)
_GLYPH_BOX = 40     # longest side of a glyph on its template, tpx (2 tpx per output px)
_SIGMA = 2.0        # σ of the Gaussian blur that turns a glyph mask into its field G, tpx
_N_HULL = 32        # directions in which each glyph's extreme points are kept
_SIDE = 28          # output image side, px
_CENTRE = 14.0      # MNIST's centre of mass (row and column, 0-based): mean 14.0, sd 0.29
_RAMP = 1.0         # width of the anti-aliased edge, output px


def _font_dir() -> Path:
    import matplotlib       # imported on first use: loading matplotlib takes about a second
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _resolve_fonts(fonts) -> tuple[str, ...]:
    """Font file paths from stems, file names or paths; defaults skip fonts not shipped."""
    folder = _font_dir()
    if fonts is None:
        found = tuple(str(folder / f"{s}.ttf") for s in DEFAULT_GLYPH_FONTS
                      if (folder / f"{s}.ttf").is_file())
        if not found:
            raise FileNotFoundError(f"none of the default fonts found in {folder}")
        return found
    if isinstance(fonts, (str, os.PathLike)):
        fonts = [fonts]
    paths = []
    for font in fonts:
        candidates = [Path(font), folder / str(font), folder / f"{font}.ttf"]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            shipped = sorted(p.stem for p in folder.glob("*.ttf"))
            raise ValueError(f"fonts: {font!r} is neither a font file nor one of "
                             f"matplotlib's fonts {shipped}")
        paths.append(str(hit))
    if not paths:
        raise ValueError("fonts must name at least one font, got an empty list")
    return tuple(paths)


def _normal_cdf_table():
    z = np.linspace(-6.0, 6.0, 1201)
    return z, 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in z]))


@functools.lru_cache(maxsize=4)
def _glyph_templates(font_files: tuple[str, ...]):
    """Rasterize each (font, digit) once; return fields, centres of mass, hulls, strokes.

    Template ``t = 10 * font + digit`` is drawn anti-aliased by Agg with its longest side
    ``_GLYPH_BOX`` tpx, centred on a ``_CANVAS``-square canvas. From its coverage mask m:

    - field G = m * N(0, σ²) (separable Gaussian blur). Thresholding G at θ = Φ(−d/σ)
      moves a straight edge outwards by d: this is how a sample's stroke width is set;
    - centre of mass c = Σ m·(x, y) / Σ m;
    - extreme points in ``_N_HULL`` directions (an inscribed convex hull), for the extent
      of the glyph after any linear map;
    - stroke width w = 2 · area / perimeter, with perimeter = Σ |∇m| (coarea formula).
    """
    # matplotlib is imported on first use, not with npae: loading it takes about a second
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    P, n_fonts = _CANVAS, len(font_files)
    renderer = RendererAgg(10 * P, n_fonts * P, 72)
    gc = renderer.new_gc()
    gc.set_antialiased(True)
    gc.set_linewidth(0)
    for f, font_file in enumerate(font_files):
        prop = FontProperties(fname=font_file)
        for digit in range(10):
            path = TextPath((0, 0), str(digit), size=1, prop=prop)
            box = path.get_extents()
            scale = _GLYPH_BOX / max(box.width, box.height)
            to_cell = (Affine2D().translate(-(box.x0 + box.x1) / 2, -(box.y0 + box.y1) / 2)
                       .scale(scale).translate((digit + 0.5) * P, (n_fonts - f - 0.5) * P))
            renderer.draw_path(gc, path, to_cell, (1.0, 1.0, 1.0, 1.0))
    alpha = np.asarray(renderer.buffer_rgba())[..., 3].astype(np.float64) / 255
    masks = alpha.reshape(n_fonts, P, 10, P).transpose(0, 2, 1, 3).reshape(-1, P, P)

    radius = int(math.ceil(3 * _SIGMA))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / _SIGMA) ** 2)
    taps /= taps.sum()
    field = np.zeros_like(masks)
    rows = np.zeros_like(masks)
    for k, w in zip(range(-radius, radius + 1), taps):     # separable blur, rows then cols
        rows[:, max(k, 0):P + min(k, 0), :] += w * masks[:, max(-k, 0):P - max(k, 0), :]
    for k, w in zip(range(-radius, radius + 1), taps):
        field[:, :, max(k, 0):P + min(k, 0)] += w * rows[:, :, max(-k, 0):P - max(k, 0)]

    coords = np.arange(P, dtype=np.float64)
    mass = masks.sum(axis=(1, 2))
    com = np.stack([(masks.sum(axis=1) * coords).sum(axis=1) / mass,      # x
                    (masks.sum(axis=2) * coords).sum(axis=1) / mass], 1)  # y
    gy, gx = np.gradient(masks, axis=(1, 2))
    stroke = 2 * mass / np.hypot(gx, gy).sum(axis=(1, 2))
    angles = 2 * np.pi * np.arange(_N_HULL) / _N_HULL
    directions = np.stack([np.cos(angles), np.sin(angles)], 1)            # (K, 2)
    hull = np.empty((len(masks), _N_HULL, 2))
    for t, mask in enumerate(masks):                                       # per template
        ys, xs = np.nonzero(mask > 0.5)
        points = np.stack([xs, ys], 1).astype(np.float64)
        hull[t] = points[np.argmax(points @ directions.T, axis=0)]
    return field.astype(np.float32), com, hull, stroke


def load_glyph_digits(n=10000, seed=0, dtype=np.float32, fonts=None):
    """Synthetic MNIST-like digits rendered from matplotlib's fonts: ``(X, y)``.

    ``X`` is (n, 784) in [0, 1] (white digit on black), ``y`` (n,) int64 with every class
    ``n // 10`` or ``n // 10 + 1`` times, in a shuffled order. ``fonts``: font stems,
    file names or paths (default :data:`DEFAULT_GLYPH_FONTS`). Same ``seed``, same fonts
    and same matplotlib -> bit-identical output.

    Per sample i, with template t_i = (font, digit), drawn: rotation α, slant κ, aspect a,
    size L (px), stroke width s (px), shift δ (px). With R(α) the rotation,

        (G1) M_i = R(α) [[1, -κ], [0, 1]] diag(a, 1)                  linear part
        (G2) E_i = max extent of M_i (hull_t - c_t) over x and y     (tpx)
        (G3) d_i = clip((s k0 - w_t) / 2), k0 = E_i / L              edge offset (tpx)
        (G4) k_i = L / (E_i + 2 d_i)                                 px per tpx
        (G5) q = c_t + M_i⁻¹ (p - 14 - δ) / k_i                      output px p -> tpx q
        (G6) v = clip(½ + (G_t(q) - θ_i) / Δ_i, 0, 1),  θ_i = Φ(-d_i/σ),
             Δ_i = ramp · φ(d_i/σ) / (σ k_i)
        (G7) x_i = v / max(v)                                        every image peaks at 1

    G_t(q) is bilinear in the template field (one batched gather for all samples). (G4)
    makes the longest side L and (G5) puts the centre of mass at MNIST's (14, 14) + δ;
    (G6) thresholds the blurred glyph so its edge moves out by d_i and spans ``_RAMP`` px.
    """
    n = check_positive_int(n, "n")
    seed = check_positive_int(seed, "seed", minimum=0)
    dtype = check_dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type, got {dtype}")
    field, com, hull, stroke_t = _glyph_templates(_resolve_fonts(fonts))
    n_fonts = len(field) // 10

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 10).astype(np.int64)
    t = rng.integers(0, n_fonts, size=n) * 10 + y                  # template per sample
    alpha = np.deg2rad(rng.uniform(-15.0, 15.0, n))
    slant = rng.uniform(-0.25, 0.25, n)
    aspect = np.exp(rng.uniform(-0.25, 0.10, n))
    size = rng.uniform(18.0, 19.5, n)
    stroke = rng.uniform(1.8, 3.4, n)
    shift = rng.uniform(-0.5, 0.5, (n, 2))

    cos, sin = np.cos(alpha), np.sin(alpha)
    M = np.empty((n, 2, 2))                                          # (G1)
    M[:, 0, 0] = cos * aspect
    M[:, 0, 1] = -cos * slant - sin
    M[:, 1, 0] = sin * aspect
    M[:, 1, 1] = -sin * slant + cos
    Q = np.einsum("nab,nkb->nka", M, hull[t] - com[t][:, None, :])  # (n, K, 2)
    extent = (Q.max(axis=1) - Q.min(axis=1)).max(axis=1)             # (G2)
    offset = np.clip((stroke * extent / size - stroke_t[t]) / 2,      # (G3)
                     -0.25 * _SIGMA, 1.75 * _SIGMA)
    k = size / (extent + 2 * offset)                                 # (G4)
    z, cdf = _normal_cdf_table()
    theta = np.interp(-offset / _SIGMA, z, cdf)
    pdf = np.exp(-0.5 * (offset / _SIGMA) ** 2) / math.sqrt(2 * np.pi)
    delta = _RAMP * pdf / (_SIGMA * k)

    det = M[:, 0, 0] * M[:, 1, 1] - M[:, 0, 1] * M[:, 1, 0]
    Minv = np.stack([np.stack([M[:, 1, 1], -M[:, 0, 1]], -1),
                     np.stack([-M[:, 1, 0], M[:, 0, 0]], -1)], 1) / det[:, None, None]
    A = (Minv / k[:, None, None]).astype(np.float32)                 # (n, 2, 2)
    origin = (com[t] - np.einsum("nab,nb->na", Minv / k[:, None, None],
                                 _CENTRE + shift)).astype(np.float32)  # q at p = 0
    grid = np.arange(_SIDE, dtype=np.float32)
    px, py = grid[None, None, :], grid[None, :, None]                # p = (col, row)
    P = _CANVAS
    flat = field.reshape(-1)
    X = np.empty((n, _SIDE * _SIDE), dtype=dtype)
    for lo in range(0, n, 2048):                                     # chunks bound memory
        s = slice(lo, min(lo + 2048, n))
        a, o = A[s, :, :, None, None], origin[s, :, None, None]
        qx = o[:, 0] + a[:, 0, 0] * px + a[:, 0, 1] * py              # (G5) (b, 28, 28)
        qy = o[:, 1] + a[:, 1, 0] * px + a[:, 1, 1] * py
        np.clip(qx, 0, P - 1.001, out=qx)                            # field is 0 there
        np.clip(qy, 0, P - 1.001, out=qy)
        x0, y0 = np.floor(qx), np.floor(qy)
        fx, fy = qx - x0, qy - y0
        i00 = (t[s, None, None] * P + y0.astype(np.int64)) * P + x0.astype(np.int64)
        G = ((1 - fy) * ((1 - fx) * flat[i00] + fx * flat[i00 + 1])
             + fy * ((1 - fx) * flat[i00 + P] + fx * flat[i00 + P + 1]))
        v = np.clip(0.5 + (G - theta[s, None, None]) / delta[s, None, None], 0, 1)  # (G6)
        v /= np.maximum(v.max(axis=(1, 2), keepdims=True), 1e-6)    # (G7) peak 1, as MNIST
        X[s] = v.reshape(-1, _SIDE * _SIDE)
    return X, y


# --------------------------------------------------------------------------- 2-D manifolds

_MANIFOLDS = ("circle", "spiral", "moons", "swiss_roll_2d")


def make_manifold(name, n=1000, seed=0, noise=0.0):
    """Points on a 1-D curve in the plane: ``(X, t)``, X (n, 2) float64, t (n,) in [0, 1].

    ``t ~ U(0, 1)`` is the position along the curve (use it as colour: a good code keeps
    it ordered); ``noise`` is the standard deviation of isotropic Gaussian noise added to X.

    - ``circle``:        x = (cos 2πt, sin 2πt)
    - ``spiral``:        r = 0.1 + 0.9 t, φ = 4πt, x = r (cos φ, sin φ)   (two turns)
    - ``moons``:         t < ½ on the upper moon (cos πu, sin πu), t ≥ ½ on the lower one
                         (1 - cos πu, ½ - sin πu), u = 2t mod 1, then centred and scaled
    - ``swiss_roll_2d``: φ = 1.5π (1 + 2t), x = φ (cos φ, sin φ) / 15 (the Swiss roll's
                         cross-section)
    """
    check_choice(name, "name", _MANIFOLDS)
    n = check_positive_int(n, "n")
    seed = check_positive_int(seed, "seed", minimum=0)
    noise = check_scalar(noise, "noise", low=0.0)
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, 1.0, n)
    if name == "circle":
        X = np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)], 1)
    elif name == "spiral":
        r, phi = 0.1 + 0.9 * t, 4 * np.pi * t
        X = r[:, None] * np.stack([np.cos(phi), np.sin(phi)], 1)
    elif name == "moons":
        u = (2 * t) % 1.0
        upper = np.stack([np.cos(np.pi * u), np.sin(np.pi * u)], 1)
        lower = np.stack([1 - np.cos(np.pi * u), 0.5 - np.sin(np.pi * u)], 1)
        X = (np.where((t < 0.5)[:, None], upper, lower) - [0.5, 0.25]) / 1.5
    else:
        phi = 1.5 * np.pi * (1 + 2 * t)
        X = phi[:, None] * np.stack([np.cos(phi), np.sin(phi)], 1) / 15
    X = X + noise * rng.standard_normal((n, 2))
    return X, t


# --------------------------------------------------------------------------- image patches

def load_patches(n=10000, size=8, whiten=True, epsilon=1.0, downsample=2, seed=0,
                 dtype=np.float32):
    """Natural-image patches from matplotlib's sample photograph: ``X`` (n, size²).

    The photograph is ``grace_hopper.jpg`` (600 × 512 RGB) from matplotlib's
    ``sample_data``, turned to grey, g = (0.299 R + 0.587 G + 0.114 B) / 255, and
    averaged over ``downsample`` × ``downsample`` pixel blocks (default 2: 300 × 256),
    which removes most of JPEG's 8 × 8 block artefacts and sensor noise that whitening
    would otherwise amplify. n patches of size × size are cut at uniformly random
    positions (``seed``), and each patch p (D = size² pixels) loses its own mean, the
    "DC" brightness, which carries no edge information:

        (P1)  x = p − (1/D) Σ_i p_i

    ``whiten=True`` decorrelates the pixels by ZCA whitening with the covariance
    C = (1/n) Xᵀ X = U diag(λ) Uᵀ of the patches:

        (P2)  x ← x U diag(1 / √(λ + ε λ̄)) Uᵀ,       λ̄ = (1/D) Σ_k λ_k

    Directions with λ ≫ ε λ̄ get unit variance; weaker ones (fine detail, noise) are
    damped, and ε > 0 keeps the division finite. Multiplying by U again keeps the result
    in pixel space, so filters learned on it look like images. The values are zero-mean
    and unbounded: use ``output="gaussian"``. A sparse autoencoder (or a k-sparse one)
    trained on these learns localized, oriented edge filters (Olshausen & Field 1996).

    ``whiten=False`` applies Ng's normalisation for a sigmoid decoder instead: x is
    truncated to ±3 standard deviations σ (over all patches) and mapped to [0.1, 0.9]:

        (P3)  x ← 0.1 + 0.8 (clip(x, −3σ, 3σ) / (3σ) + 1) / 2

    Same arguments -> bit-identical output. References: A. Hyvärinen, J. Hurri,
    P. Hoyer, *Natural Image Statistics*, Springer 2009, ch. 5 (whitening); A. Ng,
    "Sparse autoencoder", CS294A notes, 2011 (P3); B. Olshausen, D. Field, "Emergence
    of simple-cell receptive field properties by learning a sparse code for natural
    images", Nature 381, 1996.
    """
    import matplotlib.cbook  # imported on first use: loading matplotlib takes about a second
    import matplotlib.image

    n = check_positive_int(n, "n")
    downsample = check_positive_int(downsample, "downsample", maximum=8)
    seed = check_positive_int(seed, "seed", minimum=0)
    epsilon = check_scalar(epsilon, "epsilon", 0, None, low_open=True)
    if whiten not in (True, False):
        raise ValueError(f"whiten must be True or False, got {whiten!r}")
    dtype = check_dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type, got {dtype}")
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    rgb = matplotlib.image.imread(path).astype(np.float64)          # (600, 512, 3), 0..255
    grey = rgb @ np.array([0.299, 0.587, 0.114]) / 255.0              # (600, 512) in [0, 1]
    r, c = grey.shape[0] // downsample, grey.shape[1] // downsample
    grey = grey[:r * downsample, :c * downsample].reshape(
        r, downsample, c, downsample).mean(axis=(1, 3))               # block means (r, c)
    size = check_positive_int(size, "size", minimum=2, maximum=min(r, c))
    rng = np.random.default_rng(seed)
    top = rng.integers(0, r - size + 1, size=n)
    left = rng.integers(0, c - size + 1, size=n)
    offsets = np.arange(size)
    rows = top[:, None, None] + offsets[None, :, None]                # (n, size, 1)
    cols = left[:, None, None] + offsets[None, None, :]               # (n, 1, size)
    X = grey[rows, cols].reshape(n, size * size)                      # (n, D): one gather
    X = X - X.mean(axis=1, keepdims=True)                             # (P1)
    if whiten:
        lam, U = np.linalg.eigh(X.T @ X / n)                          # C = U diag(λ) Uᵀ
        lam = np.maximum(lam, 0.0)                                    # rounding: −1e-18 -> 0
        X = X @ (U / np.sqrt(lam + epsilon * lam.mean())) @ U.T       # (P2)
    else:
        three_sigma = 3.0 * X.std()
        X = 0.1 + 0.8 * (np.clip(X, -three_sigma, three_sigma) / three_sigma + 1.0) / 2.0  # (P3)
    return X.astype(dtype)
