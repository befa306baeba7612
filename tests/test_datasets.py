"""Tests of npae.datasets: IDX parsing, search order, checksums, download, synthetic data.

Download is tested only against a local HTTP server on 127.0.0.1 and file:// URLs,
serving tiny synthetic IDX files whose checksums are injected.
"""
import functools
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from npae import datasets
from npae.datasets import files as dataset_files
from npae.datasets import (available_datasets, download, find_dataset, load,
                           load_fashion_mnist, load_glyph_digits, load_mnist,
                           make_manifold, read_idx)

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
         np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(arr):
    """IDX encoding of ``arr``: magic, big-endian uint32 sizes, big-endian items."""
    arr = np.asarray(arr)
    header = bytes([0, 0, CODES[arr.dtype], arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def make_fake(folder, n_train=30, n_test=20, gz=True, seed=0):
    """Write a tiny data set into ``folder``; return (checksums, arrays) by file stem."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{split}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}-labels-idx1-ubyte"] = rng.integers(0, 10, n).astype(np.uint8)
    sums = {}
    for stem, arr in arrays.items():
        data = idx_bytes(arr)
        sums[stem] = hashlib.sha256(data).hexdigest()
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return sums, arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No NPAE_DATA/NPAE_MIRRORS, HOME in tmp, the system folder a fresh tmp folder."""
    monkeypatch.delenv("NPAE_DATA", raising=False)
    monkeypatch.delenv("NPAE_MIRRORS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(dataset_files, "SYSTEM_DATA_DIRS", (tmp_path / "system",))
    return tmp_path


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """(folder, base URL) of an HTTP server on 127.0.0.1 serving that folder; stopped after."""
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "www"
    root.mkdir()

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# ------------------------------------------------------------------ IDX reader

@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trips_every_type_code(tmp_path, dtype, gz):
    """Every standard IDX type reads back equal, native-endian and writable, .gz or raw."""
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(idx_bytes(arr)) if gz else idx_bytes(arr))
    out = read_idx(path)
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == arr.dtype and out.dtype.isnative and out.flags.writeable


@pytest.mark.parametrize("mangle, message", [
    (lambda b: b[:-5], "truncated"),
    (lambda b: b[:6], "truncated"),
    (lambda b: b + b"\x00\x00", "trailing bytes"),
    (lambda b: b"\x08\x03" + b[2:], "magic"),
    (lambda b: b[:2] + b"\x07" + b[3:], "type code"),
])
def test_read_idx_rejects_damaged_files_naming_the_file(tmp_path, mangle, message):
    """Truncation, trailing bytes, wrong magic and unknown types raise ValueError with the path."""
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(mangle(idx_bytes(np.zeros((3, 4, 4), np.uint8))))
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_bad_and_truncated_gzip(tmp_path):
    """A .gz that is not gzip, or a gzip stream cut short, is a 'bad gzip' error."""
    good = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    for content in (b"<html>404</html>", good[: len(good) // 2]):
        path = tmp_path / "x-idx3-ubyte.gz"
        path.write_bytes(content)
        with pytest.raises(ValueError, match="bad gzip") as info:
            read_idx(path)
        assert str(path) in str(info.value)


def test_read_idx_checks_sha256(tmp_path):
    """An expected checksum that does not match is reported as a corrupt data file."""
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(np.ones((2, 2), np.uint8)))
    read_idx(path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="corrupt data file"):
        read_idx(path, sha256="0" * 64)


# ------------------------------------------------------------------ finding and loading

def test_search_order_npae_data_then_cache_then_system(isolated, monkeypatch):
    """$NPAE_DATA/<name> beats ~/.cache/npae/<name>, which beats the system folder."""
    make_fake(isolated / "system" / "mnist")
    assert find_dataset("mnist") == isolated / "system" / "mnist"
    make_fake(isolated / "home" / ".cache" / "npae" / "mnist")
    assert find_dataset("mnist") == isolated / "home" / ".cache" / "npae" / "mnist"
    make_fake(isolated / "env" / "mnist")
    monkeypatch.setenv("NPAE_DATA", str(isolated / "env"))
    assert find_dataset("mnist") == isolated / "env" / "mnist"
    assert find_dataset("fashion-mnist") is None


def test_explicit_data_dir_is_the_only_place_searched(isolated, monkeypatch):
    """data_dir may be the folder itself or its parent; nothing else is searched then."""
    make_fake(isolated / "env" / "mnist")
    monkeypatch.setenv("NPAE_DATA", str(isolated / "env"))
    assert find_dataset("mnist", data_dir=isolated / "empty") is None
    assert find_dataset("mnist", data_dir=isolated / "env") == isolated / "env" / "mnist"
    assert find_dataset("mnist", data_dir=isolated / "env" / "mnist") == isolated / "env" / "mnist"


def test_not_found_lists_every_folder_and_how_to_get_the_data(isolated):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    for folder in ("NPAE_DATA", str(isolated / "home" / ".cache" / "npae" / "mnist"),
                   str(isolated / "system" / "mnist"), "python -m npae download mnist"):
        assert folder in message


@pytest.mark.parametrize("gz", [True, False])
def test_load_returns_pixels_over_255_and_int64_labels(isolated, monkeypatch, gz):
    """X = pixels/255 as float32 (N, 784), y int64; flatten/normalize/dtype options."""
    sums, arrays = make_fake(isolated / "d", gz=gz)
    monkeypatch.setitem(datasets.CHECKSUMS, "mnist", sums)
    X, y = load_mnist("test", data_dir=isolated / "d")
    images = arrays["t10k-images-idx3-ubyte"]
    assert X.shape == (20, 784) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X, images.reshape(20, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(y, arrays["t10k-labels-idx1-ubyte"])
    X8, _ = load_mnist("train", data_dir=isolated / "d", flatten=False, normalize=False,
                       dtype=np.uint8)
    np.testing.assert_array_equal(X8, arrays["train-images-idx3-ubyte"])
    X64, _ = load("mnist", "train", data_dir=isolated / "d", dtype=np.float64, n=7)
    assert X64.shape == (7, 784) and X64.dtype == np.float64
    with pytest.raises(ValueError, match="n must be <= 30"):
        load("mnist", "train", data_dir=isolated / "d", n=31)
    with pytest.raises(ValueError, match="floating"):
        load_mnist(data_dir=isolated / "d", dtype=np.uint8)


def test_load_rejects_content_that_fails_the_checksum(isolated):
    """Files whose content is not MNIST's are a 'corrupt data file' naming the file."""
    make_fake(isolated / "mnist")
    with pytest.raises(ValueError, match="corrupt data file") as info:
        load_mnist(data_dir=isolated)
    assert "train-images-idx3-ubyte" in str(info.value)


def test_load_rejects_images_labels_count_mismatch(isolated, monkeypatch):
    sums, _ = make_fake(isolated / "d")
    labels = idx_bytes(np.zeros(29, np.uint8))                    # 30 images, 29 labels
    (isolated / "d" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    sums["train-labels-idx1-ubyte"] = hashlib.sha256(labels).hexdigest()
    monkeypatch.setitem(datasets.CHECKSUMS, "mnist", sums)
    with pytest.raises(ValueError, match="count mismatch"):
        load_mnist(data_dir=isolated / "d")


def test_bad_names_splits_and_sizes_are_rejected(isolated):
    with pytest.raises(ValueError, match="unknown dataset name 'cifar'"):
        load("cifar")
    with pytest.raises(ValueError, match="unknown dataset name"):
        find_dataset("glyph-digits")
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="split"):
        load("glyphs", "dev")
    with pytest.raises(ValueError, match="n must be"):
        load_glyph_digits(0)
    with pytest.raises(ValueError, match="n must be"):
        load("glyphs", n=0)
    with pytest.raises(ValueError, match="n must be"):
        make_manifold("circle", n=0)


@pytest.mark.parametrize("call", [load, find_dataset, download])
@pytest.mark.parametrize("name", [["mnist"], ("mnist",), {"mnist": 1}, 5, None, b"mnist"])
def test_a_name_that_is_not_a_string_is_a_type_error_listing_the_names(isolated, call, name):
    """load(["mnist"]) once raised "unhashable type: 'list'"; every entry point now names
    the argument and lists what it accepts (load: every data set; files: the IDX ones)."""
    with pytest.raises(TypeError, match=r"name must be a data set name \(a str\)") as err:
        call(name)
    accepted = available_datasets() if call is load else ("mnist", "fashion-mnist")
    assert str(list(accepted)) in str(err.value) and type(name).__name__ in str(err.value)


def test_the_package_re_exports_every_public_name_of_its_modules():
    """npae.datasets.X works for every public name X of the modules it is split into."""
    import importlib
    for module in ("idx", "files", "mnist", "synthetic", "catalog"):
        sub = importlib.import_module(f"npae.datasets.{module}")
        for name in sub.__all__:
            assert getattr(datasets, name) is getattr(sub, name), (module, name)
    assert set(datasets.__all__) <= set(dir(datasets))


# ------------------------------------------------------------------ download

def test_download_from_local_http_server_then_load(isolated, monkeypatch, http_root, capsys):
    """Files arrive verified, no temporary file remains, the data loads, progress is shown."""
    root, url = http_root
    sums, arrays = make_fake(root / "mnist")
    target = download("mnist", data_dir=isolated / "cache", mirrors=[url + "/mnist/"],
                      checksums=sums)
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{s}.gz" for s in STEMS)
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err
    monkeypatch.setitem(datasets.CHECKSUMS, "mnist", sums)
    X, y = load_mnist("train", data_dir=target)
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte"])


def test_corrupt_download_is_rejected_and_not_left_in_the_cache(isolated, http_root):
    root, url = http_root
    sums, _ = make_fake(root / "mnist")
    sums["train-images-idx3-ubyte"] = "f" * 64                   # what the mirror should serve
    with pytest.raises(OSError) as info:
        download("mnist", data_dir=isolated / "cache", mirrors=[url + "/mnist/"],
                 checksums=sums, progress=False)
    message = str(info.value)
    assert "corrupt" in message and "train-images-idx3-ubyte" in message and url in message
    assert not (isolated / "cache" / "mnist").exists()          # not even an empty folder


def test_mirror_fallback_after_404_and_file_urls(isolated, http_root):
    """The first mirror answers 404, the second works; file:// mirrors work too."""
    root, url = http_root
    sums, _ = make_fake(root / "good")
    a = download("mnist", data_dir=isolated / "a", mirrors=[url + "/missing/", url + "/good/"],
                 checksums=sums, progress=False)
    assert a == isolated / "a" / "mnist"
    assert all((a / f"{s}.gz").is_file() for s in STEMS)
    b = download("mnist", data_dir=isolated / "mnist", mirrors=[(root / "good").as_uri()],
                 checksums=sums, progress=False)
    assert b == isolated / "mnist"                           # already the data set's folder
    assert all((b / f"{s}.gz").is_file() for s in STEMS)
    # Present and verified: nothing is fetched, so a dead mirror does not matter.
    download("mnist", data_dir=b, mirrors=[url + "/missing/"], checksums=sums)
    # A damaged copy in the cache is fetched again and the damaged file removed.
    (b / "t10k-labels-idx1-ubyte.gz").unlink()
    (b / "t10k-labels-idx1-ubyte").write_bytes(b"garbage")
    download("mnist", data_dir=b, mirrors=[url + "/good/"], checksums=sums, progress=False)
    assert sorted(p.name for p in b.iterdir()) == sorted(f"{s}.gz" for s in STEMS)


def test_load_with_download_uses_npae_mirrors_and_the_cache(isolated, monkeypatch, http_root):
    root, url = http_root
    sums, arrays = make_fake(root / "mnist")
    monkeypatch.setitem(datasets.CHECKSUMS, "mnist", sums)
    monkeypatch.setenv("NPAE_MIRRORS", f"{url}/nothing-here/, {url}/{{name}}/")
    X, y = load_mnist("test", download=True)
    assert find_dataset("mnist") == isolated / "home" / ".cache" / "npae" / "mnist"
    np.testing.assert_array_equal(y, arrays["t10k-labels-idx1-ubyte"])
    X, y = load_mnist("test", data_dir=isolated / "data", download=True, mirrors=[url + "/mnist"])
    assert find_dataset("mnist", data_dir=isolated / "data") == isolated / "data" / "mnist"


def test_all_mirrors_failing_names_each_mirror(isolated, http_root):
    _, url = http_root
    with pytest.raises(OSError, match="404") as info:
        download("mnist", data_dir=isolated / "c", mirrors=[url + "/x/", url + "/y/"],
                 progress=False)
    assert url + "/x/" in str(info.value) and url + "/y/" in str(info.value)
    assert not (isolated / "c" / "mnist").exists()               # not even an empty folder


# ------------------------------------------------------------------ glyph digits

def test_glyph_digits_are_deterministic_per_seed():
    X1, y1 = load_glyph_digits(300, seed=4)
    X2, y2 = load_glyph_digits(300, seed=4)
    X3, y3 = load_glyph_digits(300, seed=5)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert not np.array_equal(X1, X3) and not np.array_equal(y1, y3)


def test_glyph_digits_shape_range_dtype_balance():
    X, y = load_glyph_digits(1003, seed=0)
    assert X.shape == (1003, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() >= 0 and X.max() <= 1
    np.testing.assert_allclose(X.max(axis=1), 1.0)              # (G7) every image peaks at 1
    counts = np.bincount(y, minlength=10)
    assert counts.min() == 100 and counts.max() == 101
    assert not np.array_equal(y[:20], np.sort(y[:20]))          # shuffled
    X64, _ = load_glyph_digits(10, seed=0, dtype=np.float64)
    assert X64.dtype == np.float64
    with pytest.raises(ValueError, match="floating"):
        load_glyph_digits(10, dtype=np.int32)


def test_glyph_digits_have_mnist_geometry():
    """Ink ~ MNIST's 13 %, centre of mass at (14, 14), longest side about 20 px (G4, G5)."""
    X, _ = load_glyph_digits(2000, seed=1)
    images = X.reshape(-1, 28, 28).astype(np.float64)
    assert 0.09 < X.mean() < 0.17                               # MNIST: 0.131
    mass = images.sum(axis=(1, 2))
    grid = np.arange(28)
    rows = (images.sum(axis=2) * grid).sum(axis=1) / mass
    cols = (images.sum(axis=1) * grid).sum(axis=1) / mass
    assert abs(rows.mean() - 14) < 0.3 and abs(cols.mean() - 14) < 0.3
    assert rows.std() < 0.6 and cols.std() < 0.6
    ink = images > 0.5
    height = 28 - ink.any(2).argmax(1) - ink.any(2)[:, ::-1].argmax(1)
    width = 28 - ink.any(1).argmax(1) - ink.any(1)[:, ::-1].argmax(1)
    assert 17 <= np.median(np.maximum(height, width)) <= 21
    assert np.maximum(height, width).max() <= 26                # nothing cut at the border


def test_glyph_digits_classes_are_distinct_shapes():
    """Nearest class mean of one seed classifies another seed's digits (chance is 10 %)."""
    X, y = load_glyph_digits(3000, seed=0)
    Xt, yt = load_glyph_digits(1000, seed=1)
    means = np.stack([X[y == k].mean(axis=0) for k in range(10)])
    dist = ((Xt[:, None, :] - means[None]) ** 2).sum(axis=-1)
    assert (dist.argmin(axis=1) == yt).mean() > 0.8


def test_glyph_fonts_argument():
    X, y = load_glyph_digits(20, seed=0, fonts=["cmr10"])
    X2, _ = load_glyph_digits(20, seed=0, fonts=["DejaVuSans-Bold.ttf"])
    assert X.shape == (20, 784) and not np.array_equal(X, X2)
    with pytest.raises(ValueError, match="fonts"):
        load_glyph_digits(20, fonts=["NoSuchFont"])


def test_load_dispatcher_and_glyph_splits():
    assert available_datasets() == ("mnist", "fashion-mnist", "glyph-digits")
    Xtr, ytr = load("glyphs", "train", n=50)
    Xte, yte = load("glyph-digits", "test", n=50, flatten=False)
    assert Xtr.shape == (50, 784) and Xte.shape == (50, 28, 28)
    assert not np.array_equal(Xtr, Xte.reshape(50, 784))
    np.testing.assert_array_equal(Xtr, load_glyph_digits(50, seed=0)[0])
    Xp, _ = load("glyphs", n=5, normalize=False)
    assert Xp.max() == 255


# ------------------------------------------------------------------ manifolds

@pytest.mark.parametrize("name", ["circle", "spiral", "moons", "swiss_roll_2d"])
def test_manifolds_shapes_determinism_noise(name):
    X, t = make_manifold(name, n=500, seed=3)
    X2, t2 = make_manifold(name, n=500, seed=3)
    Xn, _ = make_manifold(name, n=500, seed=3, noise=0.1)
    assert X.shape == (500, 2) and t.shape == (500,)
    assert np.array_equal(X, X2) and np.array_equal(t, t2)
    assert t.min() >= 0 and t.max() <= 1 and np.abs(X).max() < 1.5
    assert 0.05 < np.std(Xn - X) < 0.15
    # Neighbours along the curve are neighbours in the plane (a continuous curve).
    order = np.argsort(t)
    steps = np.linalg.norm(np.diff(X[order], axis=0), axis=1)
    assert steps.max() < 0.2 or name == "moons" and np.sort(steps)[-2] < 0.2


def test_manifold_circle_is_the_unit_circle_and_bad_args_fail():
    X, t = make_manifold("circle", n=100)
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]), 1.0)
    np.testing.assert_allclose(np.arctan2(X[:, 1], X[:, 0]) % (2 * np.pi), 2 * np.pi * t)
    with pytest.raises(ValueError, match="name"):
        make_manifold("torus")
    with pytest.raises(ValueError, match="noise"):
        make_manifold("circle", noise=-1.0)


# ------------------------------------------------------------------ real data

@pytest.mark.mnist
def test_mnist_train_matches_the_published_statistics(mnist_train):
    """60,000 images, pixel mean 33.318 of 255, the published label counts."""
    X, y = mnist_train
    assert X.shape == (60000, 784) and X.dtype == np.float32
    assert abs(X.mean(dtype=np.float64) * 255 - 33.318) < 1e-3
    np.testing.assert_array_equal(
        np.bincount(y), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])


@pytest.mark.mnist
def test_mnist_test_split_and_glyphs_resemble_mnist(mnist_dir, mnist_train):
    """Class means of real MNIST classify glyph digits well above chance (10 %)."""
    Xt, yt = load_mnist("test", data_dir=mnist_dir)
    assert Xt.shape == (10000, 784) and np.bincount(yt).sum() == 10000
    X, y = mnist_train
    means = np.stack([X[y == k].mean(axis=0) for k in range(10)])
    G, yg = load_glyph_digits(1000, seed=2)
    dist = ((G[:, None, :] - means[None]) ** 2).sum(axis=-1)
    assert (dist.argmin(axis=1) == yg).mean() > 0.45


@pytest.mark.mnist
def test_fashion_mnist_if_installed():
    """Fashion-MNIST (e.g. Debian's dataset-fashion-mnist): checksums pass, 1,000 per class in test."""
    folder = find_dataset("fashion-mnist", split="test")
    if folder is None:
        pytest.skip("Fashion-MNIST not found (apt-get install dataset-fashion-mnist)")
    X, y = load_fashion_mnist("test", data_dir=folder)
    assert X.shape == (10000, 784)
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)


def test_load_digits_falls_back_to_glyphs_and_says_so(monkeypatch):
    import npae.datasets as ds
    monkeypatch.setattr(ds.catalog, "find_dataset", lambda name, *a, **k: None)
    X, y, X_test, y_test, source = ds.load_digits(50, 20)
    assert X.shape == (50, 784) and X_test.shape == (20, 784) and y.dtype == np.int64
    assert "glyph" in source and "npae download mnist" in source
    assert 0.0 <= X.min() and X.max() <= 1.0


# ------------------------------------------------------------------ misbehaving mirrors

class _BadMirror(http.server.BaseHTTPRequestHandler):
    """Serves /<mode>/<file>: each mode is one way a mirror can fail mid-download."""

    good_root = None                     # folder of correct files (for "truncated")

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, name = self.path.strip("/").split("/", 1)
        body = (self.good_root / name).read_bytes()
        if mode == "garbage":            # not HTTP at all: BadStatusLine
            self.wfile.write(b"\x00\x01 this is no status line\r\n\r\n" + body[:50])
        elif mode == "midbody":          # promises the whole file, closes after 100 bytes
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:100])
        elif mode == "wrongbytes":       # a complete answer with bytes that are no gzip file
            self.send_response(200)
            self.send_header("Content-Length", "64")
            self.end_headers()
            self.wfile.write(bytes(range(64)))
        elif mode == "truncated":        # a short but well-formed HTTP body (a cut gzip)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) // 2))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
        self.close_connection = True


@pytest.fixture
def bad_mirrors(tmp_path, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    good = tmp_path / "good"
    sums, _ = make_fake(good)
    handler = type("Handler", (_BadMirror,), {"good_root": good})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", good, sums
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


MIRROR_FAILURES = [("garbage", "BadStatusLine"), ("midbody", "incomplete read"),
                   ("wrongbytes", "bad gzip"), ("truncated", "bad gzip")]


@pytest.mark.parametrize("mode, what", MIRROR_FAILURES)
def test_a_failing_mirror_moves_on_to_the_next_good_one(isolated, bad_mirrors, mode, what):
    """Issue 13 item 9: each kind of failure of mirror 1 falls through to mirror 2."""
    url, good, sums = bad_mirrors
    folder = download("mnist", data_dir=isolated / "cache",
                      mirrors=[f"{url}/{mode}/", good.as_uri()], checksums=sums, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{s}.gz" for s in STEMS)
    for stem in STEMS:                               # the good mirror's files, complete
        assert (folder / f"{stem}.gz").read_bytes() == (good / f"{stem}.gz").read_bytes()


def test_when_every_mirror_fails_the_error_lists_each_and_nothing_is_left(isolated,
                                                                        bad_mirrors):
    url, _, sums = bad_mirrors
    mirrors = [f"{url}/{mode}/" for mode, _ in MIRROR_FAILURES] + ["http://127.0.0.1:1/refused/"]
    with pytest.raises(OSError) as info:
        download("mnist", data_dir=isolated / "cache", mirrors=mirrors, checksums=sums,
                 progress=False)
    message = str(info.value)
    for mode, what in MIRROR_FAILURES:
        assert f"/{mode}/train-images-idx3-ubyte.gz: " in message and what in message
    assert "refused" in message
    assert not (isolated / "cache" / "mnist").exists()


@pytest.mark.parametrize("kwargs, match", [
    (dict(split=["train"]), "split must be one of"),
    (dict(split="validation"), "split must be one of"),
    (dict(dtype="banana"), "dtype must be a NumPy dtype"),
    (dict(dtype=None), "dtype must be a NumPy dtype"),
    (dict(download="yes"), "download must be True or False"),
    (dict(mirrors=5, download=True), "mirrors must be a base URL"),
])
def test_loader_arguments_of_the_wrong_type_name_the_argument(isolated, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_mnist(data_dir=isolated / "nothing", **kwargs)
