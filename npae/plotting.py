"""Figures for autoencoders: image mosaics, filters, loss curves, codes, latent grids.

Every function builds a ``matplotlib.figure.Figure`` with the object-oriented API
(a ``Figure`` with a ``FigureCanvasAgg``, never ``pyplot``), so nothing needs a display
and no global pyplot state is created or leaked; every function returns the Figure
and, when ``path`` is given, also saves it with :func:`save_figure` (format from the
suffix, PNG if there is none), atomically: a temporary file in the same folder, then
``os.replace``. In a Jupyter kernel, after ``npae.inline.enable()`` (the tutorials call
it through npae.tutorial_setup), a saved figure is also shown inline, and a Figure left
as the last expression of a cell shows once, as a PNG.

Images are passed as rows ``(N, D)`` with ``D = h·w`` (square images when ``D`` is a
perfect square, otherwise pass ``image_shape=(h, w)``) or as an ``(N, h, w)`` stack.

Mosaic geometry (used by :func:`tile_images` and every image figure). ``N`` images of
``h × w`` pixels in ``c`` columns fill ``r = ⌈N / c⌉`` rows, with a 1-pixel separator
between neighbours and none around the border:

    (M1)  mosaic height = r·(h + 1) − 1,   mosaic width = c·(w + 1) − 1
    (M2)  image k sits at row ⌊k / c⌋, column k mod c; its top-left pixel is
          (⌊k / c⌋·(h + 1), (k mod c)·(w + 1))

Separators and empty cells are NaN, drawn in the figure's background colour. The
mosaic is built by one reshape/transpose and drawn by one ``imshow``, so 400 images
cost the same as one.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse
from matplotlib.ticker import MaxNLocator

from npae import inline
from npae._validation import check_array, check_positive_int, check_scalar
from npae.persistence import atomic_write

__all__ = [
    "save_figure", "tile_images", "image_grid", "image_rows", "reconstructions", "filters",
    "loss_curves", "codes_2d", "histogram", "ndtri", "latent_grid", "ellipses_2d",
]

_BACKGROUND = "white"
# Keys of a training history that are bookkeeping, not loss terms (see loss_curves).
_NOT_TERMS = ("epoch", "loss", "time", "seconds", "lr", "learning_rate")


# --------------------------------------------------------------------------- saving

def save_figure(fig, path, dpi=None):
    """Save ``fig`` to ``path`` atomically and return the path as a ``pathlib.Path``.

    The format comes from the suffix (``.png``, ``.pdf``, ``.svg``, ...); a path without
    a suffix is written as PNG. Missing parent folders are created. The figure is
    written to a temporary file in the target folder and moved over ``path`` with
    ``os.replace`` only once it is complete, so an existing file is never left
    half-written and no temporary file is left behind on failure.
    The saved area is trimmed to the drawn content (``bbox_inches="tight"``).
    ``dpi=None`` uses the figure's own dpi (image mosaics pick one high enough that
    every mosaic pixel, separators included, covers at least two device pixels).
    In a Jupyter kernel where :func:`npae.inline.enable` ran, the saved figure is also
    shown inline, once per cell.
    """
    if not isinstance(fig, Figure):
        raise ValueError(f"fig must be a matplotlib.figure.Figure, got {type(fig).__name__}")
    try:
        path = Path(os.fspath(path))
    except TypeError:
        raise ValueError(f"path must be a str or os.PathLike, got {path!r}") from None
    if path.is_dir():
        raise ValueError(f"path must be a file name, got the existing folder {str(path)!r}")
    fmt = path.suffix.lower().lstrip(".") or "png"
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(f"path has suffix {path.suffix!r}; supported figure formats are "
                         f"{sorted(supported)}")
    if dpi is not None:
        dpi = check_scalar(dpi, "dpi", low=0, low_open=True)
    atomic_write(path, lambda fh: fig.savefig(
        fh, format=fmt, dpi="figure" if dpi is None else dpi, facecolor=_BACKGROUND,
        bbox_inches="tight", pad_inches=0.05))                       # temporary file, replace
    inline.saved(fig, path if fmt == "png" else None)   # in a notebook: shown, once
    return path


def _new_figure(figsize, dpi=100):
    """A pyplot-free Figure with an Agg canvas and constrained layout."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained", facecolor=_BACKGROUND)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path):
    if path is not None:
        save_figure(fig, path)
    return fig


# --------------------------------------------------------------------------- checks

def _check_image_shape(image_shape):
    try:
        h, w = image_shape
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be a pair (h, w), got {image_shape!r}") from None
    return (check_positive_int(h, "image_shape[0]"), check_positive_int(w, "image_shape[1]"))


def _as_images(images, name, image_shape=None):
    """Return ``images`` as an (N, h, w) float array; see the module docstring."""
    arr = check_array(images, name=name, ndim=None)
    if arr.ndim == 3:
        if image_shape is not None and _check_image_shape(image_shape) != arr.shape[1:]:
            raise ValueError(f"image_shape={tuple(image_shape)} does not match {name}, "
                             f"which holds images of shape {arr.shape[1:]}")
        return arr
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (N, D) rows or an (N, h, w) stack of images, "
                         f"got shape {arr.shape}")
    N, D = arr.shape
    if image_shape is None:
        side = math.isqrt(D)
        if side * side != D:
            raise ValueError(f"{name} has D={D} columns, which is not a perfect square; "
                             f"pass image_shape=(h, w) with h*w == {D}")
        h = w = side
    else:
        h, w = _check_image_shape(image_shape)
        if h * w != D:
            raise ValueError(f"image_shape=({h}, {w}) has {h * w} pixels but {name} has "
                             f"D={D} columns")
    return arr.reshape(N, h, w)


def _check_range(vmin, vmax):
    if vmin is not None:
        vmin = check_scalar(vmin, "vmin")
    if vmax is not None:
        vmax = check_scalar(vmax, "vmax")
    if vmin is not None and vmax is not None and not vmin < vmax:
        raise ValueError(f"vmin must be smaller than vmax, got vmin={vmin}, vmax={vmax}")
    return vmin, vmax


def _colormap(cmap):
    if isinstance(cmap, Colormap):
        return cmap
    try:
        return matplotlib.colormaps[cmap]
    except (KeyError, TypeError):
        raise ValueError(f"cmap must be a matplotlib colormap or its name, got {cmap!r}") from None


def _discrete_colors(n_classes):
    """(n_classes, 4) RGBA: tab10 up to 10 classes, tab20 up to 20, evenly spread turbo beyond."""
    if n_classes <= 10:
        return np.asarray(matplotlib.colormaps["tab10"].colors)[:n_classes]
    if n_classes <= 20:
        return np.asarray(matplotlib.colormaps["tab20"].colors)[:n_classes]
    return matplotlib.colormaps["turbo"](np.linspace(0.0, 1.0, n_classes))


# --------------------------------------------------------------------------- mosaics

def tile_images(images, ncols=None, image_shape=None):
    """Tile images into one mosaic array, 1-pixel NaN separators, equations (M1)-(M2).

    Parameters: ``images`` (N, D) or (N, h, w); ``ncols`` columns (default ⌈√N⌉, at most
    N); ``image_shape`` (h, w) for non-square rows. Returns a float array of shape
    (r·(h+1) − 1, c·(w+1) − 1). Vectorized: pad every image with one NaN row and column,
    lay them out as (r, c, h+1, w+1), swap the middle axes and reshape.
    """
    imgs = _as_images(images, "images", image_shape)                  # (N, h, w)
    N, h, w = imgs.shape
    ncols = math.ceil(math.sqrt(N)) if ncols is None else check_positive_int(ncols, "ncols")
    ncols = min(ncols, N)
    nrows = -(-N // ncols)                                             # r = ⌈N / c⌉
    cells = np.full((nrows * ncols, h + 1, w + 1), np.nan)             # (r·c, h+1, w+1)
    cells[:N, :h, :w] = imgs
    mosaic = (cells.reshape(nrows, ncols, h + 1, w + 1)
                   .transpose(0, 2, 1, 3)                              # (r, h+1, c, w+1)
                   .reshape(nrows * (h + 1), ncols * (w + 1)))
    return mosaic[:-1, :-1]                                            # (M1) drop outer separator


def _mosaic_figure(mosaic, title, cmap, vmin, vmax, margins=(0.0, 0.0)):
    """One Axes, one imshow of ``mosaic``; size and dpi scale with the mosaic."""
    Hm, Wm = mosaic.shape
    inch_per_px = min(8.0 / max(Hm, Wm), 0.08)           # longest side at most 8 in
    dpi = max(100, math.ceil(2.5 / inch_per_px))          # >= 2 device px per mosaic px
    extra_w, extra_h = margins
    fig = _new_figure((Wm * inch_per_px + 0.2 + extra_w,
                       Hm * inch_per_px + 0.2 + extra_h + (0.4 if title else 0.0)), dpi=dpi)
    ax = fig.add_subplot()
    ax.imshow(mosaic, cmap=_colormap(cmap).with_extremes(bad=_BACKGROUND),
              vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    return fig, ax


def image_grid(images, ncols=None, title=None, cmap="gray", vmin=None, vmax=None, path=None,
               image_shape=None):
    """Show ``images`` as one mosaic (one ``imshow``), e.g. a batch of digits or samples.

    ``vmin``/``vmax`` fix the grey-level range (default: the data's min and max, shared
    by all images, so their brightness can be compared). Returns the Figure.
    """
    vmin, vmax = _check_range(vmin, vmax)
    mosaic = tile_images(images, ncols=ncols, image_shape=image_shape)
    fig, _ = _mosaic_figure(mosaic, title, cmap, vmin, vmax)
    return _finish(fig, path)


def image_rows(rows, n=10, path=None, title=None, cmap="gray", vmin=None, vmax=None,
               image_shape=None):
    """Show several labelled rows of images, column k of every row being example k.

    ``rows`` is a list of ``(label, images)``; every ``images`` holds the same number of
    examples N of the same shape, e.g. ``[("noisy", X_noisy), ("denoised", X_hat),
    ("clean", X)]``. The first ``min(n, N)`` examples are shown, all rows drawn in one
    ``imshow`` with one grey-level range (default: min and max over all rows), so
    rows are directly comparable; the labels are the y tick labels.
    """
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) or len(rows) == 0:
        raise ValueError("rows must be a non-empty list of (label, images) pairs")
    n = check_positive_int(n, "n")
    vmin, vmax = _check_range(vmin, vmax)
    labels, stacks = [], []
    for i, row in enumerate(rows):                        # loop over rows, not examples
        if not (isinstance(row, Sequence) and len(row) == 2 and isinstance(row[0], str)):
            raise ValueError(f"rows[{i}] must be a (label, images) pair with a str label, "
                             f"got {type(row).__name__}")
        label, images = row
        imgs = _as_images(images, f"rows[{i}] ({label!r})", image_shape)
        if stacks and imgs.shape != stacks[0].shape:
            raise ValueError(f"rows[{i}] ({label!r}) holds images of shape {imgs.shape}, but "
                             f"rows[0] ({labels[0]!r}) holds {stacks[0].shape}; every row "
                             f"needs the same number of images of the same size")
        labels.append(label)
        stacks.append(imgs)
    N, h, w = stacks[0].shape
    n_show = min(n, N)
    grid = np.stack([imgs[:n_show] for imgs in stacks], axis=0)        # (R, n, h, w)
    mosaic = tile_images(grid.reshape(-1, h, w), ncols=n_show)         # R rows, n columns
    longest = max(len(label) for label in labels)
    fig, ax = _mosaic_figure(mosaic, title, cmap, vmin, vmax, margins=(0.09 * longest, 0.0))
    ax.set_yticks(np.arange(len(labels)) * (h + 1) + (h - 1) / 2, labels)
    ax.tick_params(axis="y", length=0)
    return _finish(fig, path)


def reconstructions(originals, reconstructions, n=10, titles=("original", "reconstruction"),
                    path=None, extra_rows=None, image_shape=None, vmin=None, vmax=None,
                    title=None):
    """Originals above their reconstructions (then ``extra_rows``), via :func:`image_rows`.

    ``extra_rows`` is a list of ``(label, images)`` appended below the two rows; for any
    other order call :func:`image_rows` directly.
    """
    if not (isinstance(titles, Sequence) and len(titles) == 2
            and all(isinstance(t, str) for t in titles)):
        raise ValueError(f"titles must be a pair of str labels, got {titles!r}")
    originals = _as_images(originals, "originals", image_shape)
    reconstructions = _as_images(reconstructions, "reconstructions", image_shape)
    if reconstructions.shape != originals.shape:
        raise ValueError(f"reconstructions has shape {reconstructions.shape} but originals "
                         f"has {originals.shape}; pass one reconstruction per original")
    rows = [(titles[0], originals), (titles[1], reconstructions)] + list(extra_rows or [])
    return image_rows(rows, n=n, path=path, title=title, vmin=vmin, vmax=vmax,
                      image_shape=image_shape)


def filters(W, n=100, image_shape=None, path=None, title=None):
    """First-layer features: column j of a (D, H) weight matrix drawn as an image.

    Unit j's pre-activation is a_j = Σ_i x_i W_ij + b_j, so column W[:, j] is the input
    pattern that excites unit j most per unit norm. Each filter is normalised to its
    own symmetric range, w / max_i |w_i| ∈ [−1, 1], and drawn with grey 0 (mid grey),
    black −1 and white +1: contrast is comparable within a filter, not across filters
    (an all-zero filter stays mid grey). The first ``min(n, H)`` columns are shown.
    """
    W = check_array(W, name="W", ndim=2)                               # (D, H)
    n = min(check_positive_int(n, "n"), W.shape[1])
    F = W[:, :n].T                                                     # (n, D) one filter per row
    scale = np.max(np.abs(F), axis=1, keepdims=True)                   # (n, 1)
    F = F / np.where(scale > 0, scale, 1.0)                            # each in [-1, 1]
    imgs = _as_images(F, "W.T (filters)", image_shape)
    if title is None:
        title = f"{n} of {W.shape[1]} filters (columns of W, each scaled by its max |w|)"
    fig, _ = _mosaic_figure(tile_images(imgs), title, "gray", -1.0, 1.0)
    return _finish(fig, path)


# --------------------------------------------------------------------------- curves

def _check_history(history):
    if not isinstance(history, Mapping) or len(history) == 0:
        raise ValueError(f"history must be a non-empty dict of per-epoch lists, got {history!r}")
    out = {}
    for key, values in history.items():
        try:                                               # None (e.g. no validation) -> NaN
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"history[{key!r}] must be a list of numbers") from None
        if arr.ndim != 1:
            raise ValueError(f"history[{key!r}] must be a 1-D list, got shape {arr.shape}")
        out[key] = arr
    if "loss" not in out:
        raise ValueError(f"history must have a 'loss' key, got keys {list(out)}")
    T = out["loss"].size
    if T == 0:
        raise ValueError("history['loss'] is empty")
    for key, arr in out.items():
        if arr.size != T:
            raise ValueError(f"history[{key!r}] has {arr.size} entries but history['loss'] has "
                             f"{T}; every list in history needs one entry per epoch")
    return out


def loss_curves(history, terms=None, path=None, logy=False):
    """Training (solid) and validation (dashed) curves against epochs.

    ``history`` maps names to equal-length per-epoch lists: ``"loss"`` (required),
    ``"epoch"`` (default 1, 2, ..., T), per-term keys such as ``"recon"``, ``"kl"``,
    ``"sparsity"``, ``"weight_decay"``, and validation keys ``"val_<name>"``; ``None``
    entries (e.g. epochs without validation) are gaps. The left panel shows the total
    ``loss``; a right panel shows ``terms`` (default: every key that is not ``val_*``
    nor one of ``epoch, loss, time, seconds, lr, learning_rate``), one colour per
    term, when there are at least two (or ``terms`` is given). ``logy=True`` uses a log y axis and needs every plotted value > 0.
    """
    hist = _check_history(history)
    T = hist["loss"].size
    epochs = hist.get("epoch", np.arange(1, T + 1))
    if terms is None:
        terms = [k for k in hist if k not in _NOT_TERMS and not k.startswith("val_")]
        if len(terms) == 1:          # one term alone is the total loss again: no second panel
            terms = []
    else:
        if isinstance(terms, str) or not isinstance(terms, Sequence):
            raise ValueError(f"terms must be a list of history keys, got {terms!r}")
        for term in terms:
            if term not in hist and f"val_{term}" not in hist:
                raise ValueError(f"terms names {term!r}, which is not in history "
                                 f"(keys: {list(hist)})")
    panels = [("total loss", ["loss"])] + ([("loss terms", list(terms))] if terms else [])
    fig = _new_figure((5.0 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    marker = "o" if T <= 20 else None
    for ax, (panel_title, names) in zip(axes, panels):
        for i, name in enumerate(names):                   # loop over terms, not examples
            for key, style in ((name, "-"), (f"val_{name}", "--")):
                if key not in hist:
                    continue
                y = hist[key]
                if logy and np.any(y[np.isfinite(y)] <= 0):
                    raise ValueError(f"logy=True needs positive values, but history[{key!r}] "
                                     f"has min {np.nanmin(y):g}")
                ax.plot(epochs, y, linestyle=style, color=f"C{i}", marker=marker,
                        markersize=3, label=key)
        ax.set_title(panel_title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss (per example)" if names == ["loss"] else "value")
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _finish(fig, path)


# --------------------------------------------------------------------------- scatters

def _check_labels(labels, N, name="labels"):
    """Return (classes, index) for discrete labels or (None, values) for continuous ones."""
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != N:
        raise ValueError(f"{name} must be 1-D with one entry per point ({N}), "
                         f"got shape {lab.shape}")
    if lab.dtype.kind in "biuUS":
        classes, index = np.unique(lab, return_inverse=True)
        if lab.dtype.kind in "US" and classes.size > 20:
            raise ValueError(f"{name} has {classes.size} distinct strings; at most 20 "
                             f"can be told apart by colour")
        return classes, index
    lab = check_array(lab, name=name, ndim=1)
    classes, index = np.unique(lab, return_inverse=True)
    if np.all(lab == np.round(lab)) and classes.size <= 20:   # integer-valued floats
        return classes, index
    return None, lab


def _scatter_by_label(ax, XY, labels, size, alpha=0.7):
    """One scatter; discrete labels get tab10/tab20 and a legend, continuous a colorbar."""
    if labels is None:
        return ax.scatter(XY[:, 0], XY[:, 1], s=size, c="0.35", alpha=alpha, linewidths=0)
    classes, index = labels
    if classes is None:                                     # continuous values
        sc = ax.scatter(XY[:, 0], XY[:, 1], s=size, c=index, cmap="viridis", alpha=alpha,
                        linewidths=0)
        ax.figure.colorbar(sc, ax=ax, label="label")
        return sc
    colors = _discrete_colors(classes.size)
    sc = ax.scatter(XY[:, 0], XY[:, 1], s=size, c=colors[index], alpha=alpha, linewidths=0)
    handles = [Line2D([], [], marker="o", linestyle="", color=colors[k], label=str(c))
               for k, c in enumerate(classes.tolist())]
    ax.legend(handles=handles, title="label", loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False, handletextpad=0.1)
    return sc


def codes_2d(Z, labels=None, path=None, title=None, max_points=5000, seed=0):
    """Scatter of codes z, coloured by ``labels``; with H > 2 the first two coordinates.

    ``Z`` is (N, H), H >= 2; only columns z_1, z_2 are drawn (for H > 2 project first,
    e.g. with PCA). Discrete labels (ints, bools, strings, integer-valued floats; at most
    20 classes) get the tab10 palette (tab20 beyond 10) and a legend; other numbers a
    colorbar. With more than ``max_points`` points a random subset of ``max_points`` is
    drawn, the same for the same ``seed``; points are always drawn in a seeded random
    order so that no class hides the others by being drawn last.
    """
    Z = check_array(Z, name="Z", ndim=2)                               # (N, H)
    N, H = Z.shape
    if H < 2:
        raise ValueError(f"Z must have at least 2 columns (code dimensions), got shape {Z.shape}")
    max_points = check_positive_int(max_points, "max_points")
    lab = None if labels is None else _check_labels(labels, N)
    rng = np.random.default_rng(seed)
    order = rng.permutation(N)[:max_points]                            # subsample + draw order
    if lab is not None:
        lab = (lab[0], lab[1][order])
    fig = _new_figure((6.2, 5.0))
    ax = fig.add_subplot()
    _scatter_by_label(ax, Z[order, :2], lab, size=float(np.clip(20000 / order.size, 2, 30)))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    notes = ([f"first 2 of {H} code dimensions"] if H > 2 else []) + \
            ([f"{order.size} of {N} points"] if order.size < N else [])
    full_title = (title or "codes") + (f" ({', '.join(notes)})" if notes else "")
    ax.set_title(full_title)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def histogram(values, bins=50, path=None, title=None, xlabel=None, labels=None,
              density=False, logy=False):
    """One histogram, or several overlaid on shared bin edges (e.g. code activations).

    ``values`` is an array (any shape, flattened: e.g. all activations of an (N, H)
    code) or a list of such arrays, one histogram each. The bin edges are computed once
    from all values together, so overlaid histograms are comparable; ``density=True``
    normalises each to unit area (useful when the sets differ in size), ``logy=True``
    shows the tails next to a large spike (e.g. the zeros of a sparse code).
    """
    if isinstance(values, (list, tuple)) and len(values) > 0 and \
            not all(np.ndim(v) == 0 for v in values):
        series = [check_array(v, name=f"values[{i}]", ndim=None).ravel()
                  for i, v in enumerate(values)]
    else:
        series = [check_array(values, name="values", ndim=None).ravel()]
    if labels is not None:
        if isinstance(labels, str) or not isinstance(labels, Sequence) or \
                len(labels) != len(series):
            raise ValueError(f"labels must be a list of {len(series)} str (one per set of "
                             f"values), got {labels!r}")
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        bins = check_positive_int(bins, "bins")
    else:
        bins = check_array(bins, name="bins", ndim=1)
        if bins.size < 2 or np.any(np.diff(bins) <= 0):
            raise ValueError("bins must be a positive int or >= 2 increasing bin edges")
    edges = np.histogram_bin_edges(np.concatenate(series), bins=bins)
    fig = _new_figure((6.0, 4.0))
    ax = fig.add_subplot()
    for i, x in enumerate(series):                          # loop over sets, not values
        label = None if labels is None else str(labels[i])
        ax.hist(x, bins=edges, density=density, histtype="stepfilled", alpha=0.35,
                color=f"C{i}", edgecolor=f"C{i}", linewidth=1.2, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or "value")
    ax.set_ylabel("density" if density else "count")
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.legend()
    ax.grid(alpha=0.3)
    return _finish(fig, path)


# --------------------------------------------------------------------------- latent grid

# Wichura (1988), Algorithm AS 241 (PPND16): rational approximations of Φ⁻¹, relative
# error about 1e-16. Coefficients of the numerators, highest power first (np.polyval);
# the denominators end in 1.
_AS241_CENTRAL = (
    (2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4,
     4.5921953931549871457e+4, 1.3731693765509461125e+4, 1.9715909503065514427e+3,
     1.3314166789178437745e+2, 3.3871328727963666080e+0),
    (5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4,
     2.1213794301586595867e+4, 5.3941960214247511077e+3, 6.8718700749205790830e+2,
     4.2313330701600911252e+1, 1.0))
_AS241_INTERMEDIATE = (
    (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
     1.27045825245236838258e+0, 3.64784832476320460504e+0, 5.76949722146069140550e+0,
     4.63033784615654529590e+0, 1.42343711074968357734e+0),
    (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
     1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e+0,
     2.05319162663775882187e+0, 1.0))
_AS241_TAIL = (
    (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
     2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e+0,
     5.46378491116411436990e+0, 6.65790464350110377720e+0),
    (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
     7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
     5.99832206555887937690e-1, 1.0))


def ndtri(p):
    """Standard-normal quantile z = Φ⁻¹(p) for p in (0, 1), vectorized (AS 241).

    With q = p − ½ (Wichura 1988, Applied Statistics 37:477-484):

        (Q1)  |q| <= 0.425:  z = q · A(r) / B(r),  r = 0.180625 − q²
        (Q2)  otherwise:     r = √(−log min(p, 1 − p)),
                             z = ± C(r − 1.6) / D(r − 1.6)  if r <= 5,
                             z = ± E(r − 5) / F(r − 5)      otherwise,
                             sign of q,

    A..F polynomials of degree 7. Every branch is evaluated on the whole array and the
    right one selected, so there is no Python loop. Relative error about 1e-16.
    """
    p_arr = check_array(p, name="p", ndim=None, dtype=np.float64)
    if np.any((p_arr <= 0) | (p_arr >= 1)):
        raise ValueError(f"p must lie in the open interval (0, 1), got values in "
                         f"[{p_arr.min():g}, {p_arr.max():g}]")
    q = p_arr - 0.5
    r_c = 0.180625 - q * q
    z_central = q * np.polyval(_AS241_CENTRAL[0], r_c) / np.polyval(_AS241_CENTRAL[1], r_c)
    r = np.sqrt(-np.log(np.minimum(p_arr, 1.0 - p_arr)))             # > 0 on (0, 1)
    z_mid = np.polyval(_AS241_INTERMEDIATE[0], r - 1.6) / np.polyval(_AS241_INTERMEDIATE[1], r - 1.6)
    z_tail = np.polyval(_AS241_TAIL[0], r - 5.0) / np.polyval(_AS241_TAIL[1], r - 5.0)
    z_outer = np.sign(q) * np.where(r <= 5.0, z_mid, z_tail)
    z = np.where(np.abs(q) <= 0.425, z_central, z_outer)
    return float(z) if np.ndim(p) == 0 else z


def latent_grid(decode_fn, n=20, image_shape=(28, 28), path=None, span=(0.05, 0.95),
                title=None):
    """Decode an n × n grid of a 2-D latent space: the VAE manifold figure.

    Grid values are standard-normal quantiles z_k = Φ⁻¹(p_k) of n evenly spaced
    probabilities p_k from ``span[0]`` to ``span[1]``, so the grid covers the prior
    N(0, I) evenly in probability (Kingma & Welling 2014, fig. 4). Column j has
    z_1 = z_j, row i (from the top) has z_2 = z_{n−1−i}, so z_2 grows upwards as on a
    plot. ``decode_fn(Z)`` gets all n² points at once, Z of shape (n², 2) float64, and
    must return (n², h·w) or (n², h, w) images, e.g.
    ``lambda Z: model.inverse_transform(Z)``; for a latent space of more than 2 dims,
    put the 2 grid coordinates in the dims you want inside ``decode_fn``.
    """
    if not callable(decode_fn):
        raise ValueError(f"decode_fn must be callable Z -> images, got {decode_fn!r}")
    n = check_positive_int(n, "n", minimum=2)
    h, w = _check_image_shape(image_shape)
    try:
        lo, hi = span
    except (TypeError, ValueError):
        raise ValueError(f"span must be a pair (low, high) of probabilities, got {span!r}") from None
    lo = check_scalar(lo, "span[0]", 0, 1, low_open=True, high_open=True)
    hi = check_scalar(hi, "span[1]", 0, 1, low_open=True, high_open=True)
    if not lo < hi:
        raise ValueError(f"span must satisfy span[0] < span[1], got {span!r}")
    z = ndtri(np.linspace(lo, hi, n))                                  # (n,) quantiles
    Z1, Z2 = np.meshgrid(z, z[::-1])                                   # (n, n) each
    Z = np.column_stack([Z1.ravel(), Z2.ravel()])                      # (n², 2)
    decoded = check_array(decode_fn(Z), name="decode_fn(Z)", ndim=None)
    if decoded.shape[0] != n * n:
        raise ValueError(f"decode_fn(Z) must return {n * n} images (one per row of Z), "
                         f"got shape {decoded.shape}")
    imgs = _as_images(decoded, "decode_fn(Z)", (h, w))
    fig, ax = _mosaic_figure(tile_images(imgs, ncols=n),
                             title or f"decoded grid of N(0,1) quantiles, p in [{lo:g}, {hi:g}]",
                             "gray", None, None, margins=(0.5, 0.4))
    ticks = np.unique(np.linspace(0, n - 1, 5).round().astype(int))
    ax.set_xticks(ticks * (w + 1) + (w - 1) / 2, [f"{v:.2f}" for v in z[ticks]])
    ax.set_yticks(ticks * (h + 1) + (h - 1) / 2, [f"{v:.2f}" for v in z[::-1][ticks]])
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return _finish(fig, path)


# --------------------------------------------------------------------------- ellipses

def ellipses_2d(X, means, covariances, labels=None, path=None, title=None):
    """2-D data with the 1σ and 2σ ellipses of Gaussian components (e.g. a GMM's).

    The kσ ellipse of N(μ, Σ) is the set (x − μ)ᵀ Σ⁻¹ (x − μ) = k². With the
    eigen-decomposition Σ = V Λ Vᵀ (columns v_i, eigenvalues λ_i >= 0) it has semi-axes
    k √λ_i along v_i. In 2-D it encloses 1 − exp(−k²/2) of the component's mass: 39.3 %
    for k = 1 (solid line), 86.5 % for k = 2 (dashed). Component k is drawn in colour
    C_k (tab10); points are coloured by ``labels`` if given (labels 0..K−1 share the
    component colours, e.g. ``labels = responsibilities.argmax(1)``), grey otherwise.
    ``X`` (N, 2), ``means`` (K, 2), ``covariances`` (K, 2, 2) symmetric PSD.
    """
    X = check_array(X, name="X", ndim=2, n_features=2)                 # (N, 2)
    means = check_array(means, name="means", ndim=2, n_features=2)     # (K, 2)
    cov = check_array(covariances, name="covariances", ndim=3)         # (K, 2, 2)
    K = means.shape[0]
    if cov.shape != (K, 2, 2):
        raise ValueError(f"covariances must have shape ({K}, 2, 2), one per row of means, "
                         f"got {cov.shape}")
    scale = np.max(np.abs(cov), axis=(1, 2))                           # (K,)
    asym = np.abs(cov[:, 0, 1] - cov[:, 1, 0]) > 1e-10 * np.maximum(scale, 1e-300)
    if np.any(asym):
        raise ValueError(f"covariances[{int(np.argmax(asym))}] is not symmetric")
    lam, V = np.linalg.eigh(cov)                       # (K, 2) ascending, (K, 2, 2) columns v_i
    neg = lam[:, 0] < -1e-10 * np.maximum(scale, 1e-300)
    if np.any(neg):
        k = int(np.argmax(neg))
        raise ValueError(f"covariances[{k}] is not positive semi-definite "
                         f"(eigenvalues {lam[k].tolist()})")
    lam = np.maximum(lam, 0.0)                         # round-off below 0 only (checked above)
    angle = np.degrees(np.arctan2(V[:, 1, 1], V[:, 0, 1]))            # major axis v_2
    colors = _discrete_colors(K)
    lab = None
    if labels is not None:
        classes, index = _check_labels(labels, X.shape[0])
        if classes is not None and classes.dtype.kind in "biuf" \
                and np.all(classes == np.round(classes)) \
                and classes.min() >= 0 and classes.max() < K:
            classes = np.arange(K)                      # labels are component indices
            index = np.asarray(np.asarray(labels), dtype=int)
        lab = (classes, index)
    fig = _new_figure((6.2, 5.0))
    ax = fig.add_subplot()
    _scatter_by_label(ax, X, lab, size=float(np.clip(20000 / X.shape[0], 2, 20)), alpha=0.5)
    for k in range(K):                                  # loop over components, not points
        for n_sigma, style in ((1, "-"), (2, "--")):
            ax.add_patch(Ellipse(means[k], width=2 * n_sigma * np.sqrt(lam[k, 1]),
                                 height=2 * n_sigma * np.sqrt(lam[k, 0]), angle=angle[k],
                                 fill=False, edgecolor=colors[k], linestyle=style, linewidth=1.8))
    ax.scatter(means[:, 0], means[:, 1], marker="x", s=60, c=colors, linewidths=2.5, zorder=3)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or f"{K} Gaussian components: 1σ (solid) and 2σ (dashed) ellipses")
    ax.grid(alpha=0.3)
    return _finish(fig, path)
