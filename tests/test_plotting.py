"""Tests for npae.plotting: figure structure, mosaic geometry, atomic saving, input checks."""
import os
import subprocess
import sys

import numpy as np
import pytest
import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from npae import plotting as P

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def blobs(N, h=28, w=28, seed=0):
    """N synthetic images (N, h*w): one Gaussian blob each, random centre and width."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    centre = rng.uniform([0.2 * h, 0.2 * w], [0.8 * h, 0.8 * w], size=(N, 2))
    width = rng.uniform(1.5, 4.0, size=(N, 1, 1))
    img = np.exp(-((yy - centre[:, 0, None, None]) ** 2
                   + (xx - centre[:, 1, None, None]) ** 2) / (2 * width ** 2))
    return img.reshape(N, h * w)


def the_image(fig):
    """The single AxesImage of a mosaic figure, as a plain array with NaN separators."""
    assert len(fig.axes) == 1
    images = fig.axes[0].get_images()
    assert len(images) == 1
    return np.ma.filled(images[0].get_array().astype(float), np.nan)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- mosaics

def test_tile_images_shape_and_placement_follow_M1_M2():
    """12 images of 28x28 in 4 columns: a (3*29-1, 4*29-1) = (86, 115) mosaic, image k
    at block (k // 4, k % 4), NaN on every separator pixel."""
    X = blobs(12)
    mosaic = P.tile_images(X, ncols=4)
    assert mosaic.shape == (86, 115)
    imgs = X.reshape(12, 28, 28)
    for k in (0, 3, 5, 11):
        r, c = divmod(k, 4)
        np.testing.assert_array_equal(mosaic[r * 29:r * 29 + 28, c * 29:c * 29 + 28], imgs[k])
    assert np.all(np.isnan(mosaic[28, :])) and np.all(np.isnan(mosaic[57, :]))
    assert np.all(np.isnan(mosaic[:, [28, 57, 86]]))
    assert np.count_nonzero(np.isnan(mosaic)) == 86 * 115 - 12 * 28 * 28


def test_tile_images_leaves_empty_cells_nan_and_handles_non_square():
    """10 images in 4 columns: 3 rows, last two cells empty (NaN); (7, 4) images via image_shape."""
    X = blobs(10, h=7, w=4)
    mosaic = P.tile_images(X, ncols=4, image_shape=(7, 4))
    assert mosaic.shape == (3 * 8 - 1, 4 * 5 - 1)
    assert np.all(np.isnan(mosaic[16:, 10:]))             # cells (2, 2) and (2, 3)
    assert not np.any(np.isnan(mosaic[16:, 5:9]))         # cell (2, 1) holds image 9
    assert P.tile_images(blobs(9)).shape == (3 * 29 - 1, 3 * 29 - 1)   # default ncols = 3


def test_image_grid_is_one_imshow_of_the_mosaic():
    fig = P.image_grid(blobs(12), ncols=4, title="blobs")
    assert isinstance(fig, Figure)
    arr = the_image(fig)
    assert arr.shape == (86, 115)
    np.testing.assert_array_equal(arr, P.tile_images(blobs(12), ncols=4))
    assert fig.axes[0].get_title() == "blobs"


def test_image_grid_400_images_is_still_one_artist():
    """400 images: one AxesImage (no per-image imshow) of shape (20*29-1, 20*29-1)."""
    fig = P.image_grid(blobs(400))
    assert the_image(fig).shape == (579, 579)
    assert len(fig.axes[0].get_children()) < 20


def test_image_grid_passes_the_grey_range():
    fig = P.image_grid(blobs(4), vmin=0, vmax=2)
    assert fig.axes[0].get_images()[0].get_clim() == (0, 2)
    assert fig.axes[0].get_images()[0].get_cmap().name.startswith("gray")


@pytest.mark.parametrize("kwargs, match", [
    (dict(images=np.zeros((3, 30))), r"images has D=30 columns.*image_shape"),
    (dict(images=np.zeros((3, 28)), image_shape=(5, 5)), r"image_shape=\(5, 5\) has 25 pixels"),
    (dict(images=np.zeros((3, 4, 4)), image_shape=(2, 8)), r"image_shape=\(2, 8\) does not match"),
    (dict(images=np.zeros((3, 2, 2, 2))), r"images must be \(N, D\) rows"),
    (dict(images=np.full((3, 4), np.nan)), r"images contains 12 NaN"),
    (dict(images=np.zeros((3, 4)), ncols=0), r"ncols must be an integer"),
    (dict(images=np.zeros((3, 4)), vmin=1, vmax=0), r"vmin must be smaller than vmax"),
    (dict(images=np.zeros((3, 4)), cmap="no-such-map"), r"cmap must be"),
])
def test_image_grid_rejects_bad_input_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.image_grid(**kwargs)


def test_image_rows_shape_and_labels():
    """3 labelled rows of 12 examples, 6 shown: a (3*29-1, 6*29-1) mosaic, labels as y ticks,
    example k of every row in column k."""
    X = blobs(12)
    rows = [("noisy", X + 0.5), ("denoised", X * 0.5), ("clean", X)]
    fig = P.image_rows(rows, n=6)
    arr = the_image(fig)
    assert arr.shape == (3 * 29 - 1, 6 * 29 - 1)
    np.testing.assert_array_equal(arr[29:57, 29 * 5:29 * 5 + 28], X[5].reshape(28, 28) * 0.5)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["noisy", "denoised", "clean"]


def test_image_rows_rejects_rows_of_different_counts():
    with pytest.raises(ValueError, match=r"rows\[1\] \('b'\).*rows\[0\] \('a'\)"):
        P.image_rows([("a", blobs(5)), ("b", blobs(4))])
    with pytest.raises(ValueError, match=r"rows must be a non-empty list"):
        P.image_rows([])
    with pytest.raises(ValueError, match=r"rows\[0\] must be a \(label, images\) pair"):
        P.image_rows([blobs(3)])


def test_reconstructions_two_rows_plus_extra_rows():
    X = blobs(8)
    fig = P.reconstructions(X, X * 0.9, n=10)             # n > N shows all 8
    assert the_image(fig).shape == (2 * 29 - 1, 8 * 29 - 1)
    fig = P.reconstructions(X, X * 0.9, n=4, extra_rows=[("noisy", X + 0.1)])
    assert the_image(fig).shape == (3 * 29 - 1, 4 * 29 - 1)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        "original", "reconstruction", "noisy"]


def test_reconstructions_rejects_mismatched_counts():
    with pytest.raises(ValueError, match=r"reconstructions has shape \(9, 28, 28\) but "
                                         r"originals has \(10, 28, 28\)"):
        P.reconstructions(blobs(10), blobs(9))
    with pytest.raises(ValueError, match=r"titles must be a pair"):
        P.reconstructions(blobs(2), blobs(2), titles=("only one",))


def test_filters_each_scaled_to_its_own_symmetric_range():
    """Column j is tile j; every tile's max |value| is 1, a zero filter stays 0, the colour
    range is [-1, 1], and only the first min(n, H) columns are drawn."""
    rng = np.random.default_rng(1)
    W = rng.standard_normal((49, 6)) * np.array([1e-3, 1, 10, 0.5, 2, 3])
    W[:, 3] = 0.0
    fig = P.filters(W, n=100)
    arr = the_image(fig)
    assert arr.shape == (2 * 8 - 1, 3 * 8 - 1)             # 6 filters of 7x7: 2 rows of 3
    tiles = [arr[r * 8:r * 8 + 7, c * 8:c * 8 + 7] for r in range(2) for c in range(3)]
    for j, tile in enumerate(tiles):
        expected = W[:, j] / np.max(np.abs(W[:, j])) if j != 3 else W[:, j]
        np.testing.assert_allclose(tile.ravel(), expected, rtol=1e-12)
    assert fig.axes[0].get_images()[0].get_clim() == (-1.0, 1.0)
    assert the_image(P.filters(W, n=4)).shape == (2 * 8 - 1, 2 * 8 - 1)
    with pytest.raises(ValueError, match=r"W\.T \(filters\) has D=50 columns"):
        P.filters(np.ones((50, 3)))


# --------------------------------------------------------------------------- curves

def history(T=8):
    e = np.arange(1, T + 1)
    return {"epoch": list(e), "loss": list(10 / e + 1), "recon": list(9 / e + 1),
            "kl": list(1 - 0.5 / e), "val_loss": list(11 / e + 1), "val_recon": list(10 / e + 1)}


def test_loss_curves_two_panels_train_solid_val_dashed():
    fig = P.loss_curves(history())
    assert len(fig.axes) == 2
    total, terms = fig.axes
    styles = {line.get_label(): (line.get_linestyle(), line.get_color()) for line in total.lines}
    assert set(styles) == {"loss", "val_loss"}
    assert styles["loss"][0] == "-" and styles["val_loss"][0] == "--"
    assert styles["loss"][1] == styles["val_loss"][1]
    labels = [line.get_label() for line in terms.lines]
    assert labels == ["recon", "val_recon", "kl"]
    recon, val_recon = terms.lines[:2]
    assert recon.get_color() == val_recon.get_color() and val_recon.get_linestyle() == "--"
    np.testing.assert_array_equal(recon.get_xdata(), np.arange(1, 9))
    assert total.get_xlabel() == "epoch"


def test_loss_curves_single_panel_terms_selection_and_gaps():
    fig = P.loss_curves({"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, None, 1.5]})
    assert len(fig.axes) == 1
    val = [line for line in fig.axes[0].lines if line.get_label() == "val_loss"][0]
    assert np.isnan(val.get_ydata()[1])
    fig = P.loss_curves(history(), terms=["kl"], logy=True)
    assert [line.get_label() for line in fig.axes[1].lines] == ["kl"]
    assert fig.axes[0].get_yscale() == "log"
    # bookkeeping keys are not terms
    fig = P.loss_curves({"loss": [2.0, 1.0], "lr": [0.1, 0.1], "time": [1.0, 2.0]})
    assert len(fig.axes) == 1


@pytest.mark.parametrize("hist, kwargs, match", [
    ({"loss": [1.0, 2.0], "val_loss": [1.0]}, {}, r"history\['val_loss'\] has 1 entries but "
                                                   r"history\['loss'\] has 2"),
    ({"recon": [1.0]}, {}, r"history must have a 'loss' key"),
    ({"loss": []}, {}, r"history\['loss'\] is empty"),
    ({"loss": ["a", "b"]}, {}, r"history\['loss'\] must be a list of numbers"),
    ({"loss": [1.0, 2.0]}, {"terms": ["kl"]}, r"terms names 'kl'"),
    ({"loss": [1.0, -2.0]}, {"logy": True}, r"logy=True needs positive values"),
    ([1.0, 2.0], {}, r"history must be a non-empty dict"),
])
def test_loss_curves_rejects_bad_history(hist, kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.loss_curves(hist, **kwargs)


# --------------------------------------------------------------------------- scatters

def labelled_codes(N=1000, H=2, seed=0):
    """Codes whose first coordinate encodes the label (label + small noise) so that a
    drawn point's label can be recovered from its position."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=N)
    Z = rng.standard_normal((N, H)) * 0.1
    Z[:, 0] += y
    return Z, y


def test_codes_2d_colours_points_by_label_with_tab10_and_legend():
    Z, y = labelled_codes()
    fig = P.codes_2d(Z, y)
    ax = fig.axes[0]
    sc = ax.collections[0]
    offsets = sc.get_offsets()
    assert offsets.shape == (1000, 2)
    drawn_labels = np.round(offsets[:, 0]).astype(int)
    tab10 = np.asarray(matplotlib.colormaps["tab10"].colors)
    np.testing.assert_allclose(sc.get_facecolors()[:, :3], tab10[drawn_labels])
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [str(k) for k in range(10)]


def test_codes_2d_subsamples_deterministically_and_uses_first_two_columns():
    Z, y = labelled_codes(N=3000, H=5)
    a = P.codes_2d(Z, y, max_points=500, seed=3).axes[0]
    b = P.codes_2d(Z, y, max_points=500, seed=3).axes[0]
    c = P.codes_2d(Z, y, max_points=500, seed=4).axes[0]
    off_a, off_b, off_c = (ax.collections[0].get_offsets() for ax in (a, b, c))
    assert off_a.shape == (500, 2)
    np.testing.assert_array_equal(off_a, off_b)
    assert not np.array_equal(off_a, off_c)
    # every drawn point is a row of Z[:, :2]
    rows = {tuple(r) for r in Z[:, :2]}
    assert all(tuple(r) in rows for r in np.asarray(off_a))
    assert "first 2 of 5" in a.get_title() and "500 of 3000" in a.get_title()


def test_codes_2d_continuous_labels_get_a_colorbar():
    Z, _ = labelled_codes(N=200)
    fig = P.codes_2d(Z, labels=np.linspace(0, 1, 200) + 0.001)
    assert len(fig.axes) == 2                               # scatter + colorbar
    assert fig.axes[0].get_legend() is None


@pytest.mark.parametrize("Z, labels, match", [
    (np.zeros(10), None, r"Z must be 2-dimensional"),
    (np.zeros((10, 2, 1)), None, r"Z must be 2-dimensional"),
    (np.zeros((10, 1)), None, r"Z must have at least 2 columns"),
    (np.zeros((10, 2)), np.zeros(9), r"labels must be 1-D with one entry per point \(10\)"),
    (np.zeros((30, 2)), np.array([f"c{i}" for i in range(30)]), r"labels has 30 distinct"),
])
def test_codes_2d_rejects_bad_input(Z, labels, match):
    with pytest.raises(ValueError, match=match):
        P.codes_2d(Z, labels)


def test_histogram_overlays_on_shared_edges():
    rng = np.random.default_rng(0)
    a, b = rng.exponential(1.0, 500), rng.normal(2.0, 1.0, (30, 10))
    fig = P.histogram([a, b], bins=20, labels=["relu", "sigmoid"], xlabel="activation")
    ax = fig.axes[0]
    assert len(ax.patches) == 2                             # one filled step per set
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["relu", "sigmoid"]
    edges = np.histogram_bin_edges(np.concatenate([a, b.ravel()]), bins=20)
    for patch, x in zip(ax.patches, (a, b.ravel())):
        xy = patch.get_path().vertices
        assert np.isclose(xy[:, 0].min(), edges[0]) and np.isclose(xy[:, 0].max(), edges[-1])
        assert np.isclose(xy[:, 1].max(), np.histogram(x, edges)[0].max())
    assert ax.get_xlabel() == "activation"
    assert len(P.histogram(a).axes[0].patches) == 1


@pytest.mark.parametrize("values, kwargs, match", [
    ([np.ones(3), np.array([1.0, np.nan])], {}, r"values\[1\] contains 1 NaN"),
    ([np.ones(3), np.ones(4)], {"labels": ["one"]}, r"labels must be a list of 2 str"),
    (np.ones(3), {"bins": 0}, r"bins must be an integer"),
    (np.ones(3), {"bins": [1.0, 0.5]}, r"bins must be a positive int or >= 2 increasing"),
])
def test_histogram_rejects_bad_input(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.histogram(values, **kwargs)


# --------------------------------------------------------------------------- latent grid

def test_ndtri_matches_scipy_to_1e_9():
    """AS 241 against scipy.special.ndtri in the centre, the intermediate range and the
    far tails (r > 5 means p < exp(-25) ~ 1.4e-11)."""
    special = pytest.importorskip("scipy.special")
    p = np.concatenate([np.linspace(1e-6, 1 - 1e-6, 2001), np.logspace(-300, -1, 300),
                        1 - np.logspace(-15, -1, 100), [0.075, 0.925, 0.5]])
    z = P.ndtri(p)
    assert z.shape == p.shape
    assert np.max(np.abs(z - special.ndtri(p))) < 1e-9
    # AS 241 is good to ~1e-16 relative; measured max 1e-15 here, so 1e-13 has room.
    np.testing.assert_allclose(z, special.ndtri(p), rtol=1e-13, atol=0)
    assert P.ndtri(0.5) == 0.0 and isinstance(P.ndtri(0.975), float)


def test_ndtri_rejects_probabilities_outside_the_open_interval():
    for bad in (0.0, 1.0, [0.5, 1.2], -0.1):
        with pytest.raises(ValueError, match=r"p must lie in the open interval \(0, 1\)"):
            P.ndtri(bad)


def bump_decoder(calls):
    """A decoder whose image k is a bright pixel at a position set by z, so the tile of
    grid point (i, j) can be checked."""
    def decode(Z):
        calls.append(Z.copy())
        out = np.zeros((Z.shape[0], 8, 8))
        cols = np.clip(np.round(3.5 + 2 * Z[:, 0]), 0, 7).astype(int)
        rows = np.clip(np.round(3.5 - 2 * Z[:, 1]), 0, 7).astype(int)
        out[np.arange(Z.shape[0]), rows, cols] = 1.0
        return out.reshape(Z.shape[0], 64)
    return decode


def test_latent_grid_decodes_one_batch_of_normal_quantiles():
    special = pytest.importorskip("scipy.special")
    calls = []
    fig = P.latent_grid(bump_decoder(calls), n=5, image_shape=(8, 8), span=(0.1, 0.9))
    assert len(calls) == 1 and calls[0].shape == (25, 2)
    Z = calls[0]
    z = special.ndtri(np.linspace(0.1, 0.9, 5))
    np.testing.assert_allclose(Z[:5, 0], z, atol=1e-12)            # columns: z1 ascending
    np.testing.assert_allclose(Z[::5, 1], z[::-1], atol=1e-12)     # rows: z2 descending
    arr = the_image(fig)
    assert arr.shape == (5 * 9 - 1, 5 * 9 - 1)
    # top-right tile (z1 max, z2 max): its bright pixel is up and to the right
    top_right = arr[0:8, 36:44]
    r, c = np.unravel_index(np.argmax(top_right), (8, 8))
    assert r < 3.5 and c > 3.5


@pytest.mark.parametrize("decode_fn, kwargs, match", [
    (lambda Z: np.zeros((3, 64)), {}, r"decode_fn\(Z\) must return 400 images"),
    (lambda Z: np.zeros((Z.shape[0], 63)), {}, r"image_shape=\(8, 8\) has 64 pixels but "
                                                r"decode_fn\(Z\) has D=63"),
    ("not callable", {}, r"decode_fn must be callable"),
    (lambda Z: np.zeros((Z.shape[0], 64)), {"span": (0.0, 0.9)}, r"span\[0\] must be in \(0, 1\)"),
    (lambda Z: np.zeros((Z.shape[0], 64)), {"span": (0.9, 0.1)}, r"span must satisfy"),
    (lambda Z: np.zeros((Z.shape[0], 64)), {"n": 1}, r"n must be an integer >= 2"),
])
def test_latent_grid_rejects_bad_input(decode_fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.latent_grid(decode_fn, **{"image_shape": (8, 8), **kwargs})


# --------------------------------------------------------------------------- ellipses

def gmm_setup():
    rng = np.random.default_rng(0)
    means = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])
    covs = np.array([[[1.0, 0.8], [0.8, 1.0]], [[2.0, -0.5], [-0.5, 0.5]], [[0.3, 0.0], [0.0, 1.5]]])
    X = np.concatenate([rng.multivariate_normal(m, c, 100) for m, c in zip(means, covs)])
    return X, means, covs, np.repeat(np.arange(3), 100)


def test_ellipses_lie_at_mahalanobis_distance_one_and_two():
    """Map the unit circle through each drawn Ellipse's transform: every boundary point x
    satisfies (x-mu)^T Sigma^-1 (x-mu) = k^2 for its k in {1, 2}."""
    X, means, covs, y = gmm_setup()
    fig = P.ellipses_2d(X, means, covs, labels=y)
    ax = fig.axes[0]
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 6
    t = np.linspace(0, 2 * np.pi, 50)
    circle = np.column_stack([np.cos(t), np.sin(t)])
    for idx, patch in enumerate(ellipses):
        k, n_sigma = divmod(idx, 2)
        boundary = patch.get_patch_transform().transform(circle)          # data coordinates
        d = boundary - means[k]
        maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(covs[k]), d)
        np.testing.assert_allclose(maha, (n_sigma + 1) ** 2, rtol=1e-9)
        assert patch.get_linestyle() == ("-" if n_sigma == 0 else "--")
    # points of component k share its ellipse colour
    tab10 = np.asarray(matplotlib.colormaps["tab10"].colors)
    np.testing.assert_allclose(ax.collections[0].get_facecolors()[:, :3], tab10[y])
    np.testing.assert_allclose(ellipses[2].get_edgecolor()[:3], tab10[1])


@pytest.mark.parametrize("covs, match", [
    (np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]]), r"covariances\[1\] is not positive"),
    (np.array([[[1.0, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]), r"covariances\[0\] is not symmetric"),
    (np.eye(2)[None].repeat(3, 0), r"covariances must have shape \(2, 2, 2\)"),
])
def test_ellipses_2d_rejects_bad_covariances(covs, match):
    with pytest.raises(ValueError, match=match):
        P.ellipses_2d(np.zeros((5, 2)), np.zeros((2, 2)), covs)
    with pytest.raises(ValueError, match=r"X must have 2 columns"):
        P.ellipses_2d(np.zeros((5, 3)), np.zeros((2, 2)), np.eye(2)[None].repeat(2, 0))


# --------------------------------------------------------------------------- saving

FIGURES = {
    "image_grid": lambda path: P.image_grid(blobs(12), ncols=4, path=path),
    "image_rows": lambda path: P.image_rows([("a", blobs(4)), ("b", blobs(4, seed=1))], path=path),
    "reconstructions": lambda path: P.reconstructions(blobs(6), blobs(6, seed=2), path=path),
    "filters": lambda path: P.filters(blobs(9).T, path=path),
    "loss_curves": lambda path: P.loss_curves(history(), path=path),
    "codes_2d": lambda path: P.codes_2d(*labelled_codes(200), path=path),
    "histogram": lambda path: P.histogram(np.arange(100.0), path=path),
    "latent_grid": lambda path: P.latent_grid(bump_decoder([]), n=4, image_shape=(8, 8), path=path),
    "ellipses_2d": lambda path: P.ellipses_2d(*gmm_setup()[:3], path=path),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_function_returns_a_figure_and_saves_a_png(name, tmp_path):
    path = tmp_path / "out" / f"{name}.png"                  # parent folder created
    fig = FIGURES[name](path)
    assert isinstance(fig, Figure)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert leftovers(path.parent) == []


def test_save_figure_format_from_suffix_png_without_one(tmp_path):
    fig = P.image_grid(blobs(4))
    assert P.save_figure(fig, tmp_path / "a.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert P.save_figure(fig, tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    assert P.save_figure(fig, str(tmp_path / "noext")).read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match=r"path has suffix '\.xyz'"):
        P.save_figure(fig, tmp_path / "a.xyz")
    with pytest.raises(ValueError, match=r"path must be a file name"):
        P.save_figure(fig, tmp_path)
    with pytest.raises(ValueError, match=r"fig must be a matplotlib.figure.Figure"):
        P.save_figure("fig", tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"dpi must be in \(0, inf\]"):
        P.save_figure(fig, tmp_path / "a.png", dpi=0)
    assert leftovers(tmp_path) == []


def test_save_figure_replaces_an_existing_file_only_after_success(tmp_path, monkeypatch):
    path = tmp_path / "fig.png"
    path.write_bytes(b"old figure")
    fig = P.image_grid(blobs(4))
    real_savefig = fig.savefig
    seen_during_write = []

    def checking_savefig(fh, **kwargs):
        seen_during_write.append(path.read_bytes())         # target untouched while writing
        real_savefig(fh, **kwargs)

    monkeypatch.setattr(fig, "savefig", checking_savefig)
    P.save_figure(fig, path)
    assert seen_during_write == [b"old figure"]
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert leftovers(tmp_path) == []

    path.write_bytes(b"old figure")

    def failing_savefig(fh, **kwargs):
        fh.write(b"half a PNG")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", failing_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        P.save_figure(fig, path)
    assert path.read_bytes() == b"old figure"
    assert leftovers(tmp_path) == []


def test_importing_plotting_does_not_import_pyplot():
    """Figures are built with the object-oriented API only: no pyplot, no global state."""
    code = ("import sys, numpy as np, npae.plotting as P; P.image_grid(np.zeros((4, 4)));"
            "P.loss_curves({'loss': [1.0, 0.5]}); assert 'matplotlib.pyplot' not in sys.modules")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(P.__file__)))]
        + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_loss_curves_leave_out_a_terms_panel_that_would_repeat_the_total():
    fig = P.loss_curves({"loss": [2.0, 1.0], "recon": [2.0, 1.0], "val_recon": [2.5, 1.5]})
    assert len(fig.axes) == 1
