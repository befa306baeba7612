"""npae.parallel: the thread pool splits elementwise passes without changing a bit.

Every threaded pass (activations, the Bernoulli loss, Adam) is computed serially, with
2 and 3 threads and again, on awkward shapes and special values, and compared bit for
bit; so is a whole seeded fit of each model family. Then the setting (environment
variable, set_num_threads, core count), that the work really is shared between
threads, that errors and np.errstate cross to the workers, and that the Bernoulli
loss's value_and_grad computes e^{−|A|} once. No timing is asserted here: benchmarks/ measures.
"""
import os
import threading

import numpy as np
import pytest

import npae
from npae import layers, losses, parallel
from npae.optim import Adam


@pytest.fixture(autouse=True)
def restore_setting(monkeypatch):
    """Each test starts from the default setting and leaves it so."""
    monkeypatch.delenv(parallel.ENV_VAR, raising=False)
    parallel.set_num_threads(None)
    yield
    monkeypatch.delenv(parallel.ENV_VAR, raising=False)
    parallel.set_num_threads(None)


@pytest.fixture
def split_everything(monkeypatch):
    """Split every pass, however small, so that small test arrays exercise the pool."""
    monkeypatch.setattr(parallel, "MIN_SIZE", 1)


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _logits(dtype, shape=(257, 785), seed=0):
    """Pre-activations from −60 to 60 with NaN, ±inf, ±0 and a few exact kinks."""
    rng = np.random.default_rng(seed)
    A = (rng.normal(size=shape) * 20).astype(dtype)
    A.flat[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-30]
    return A


def _under_threads(fn, counts=(1, 2, 3, 1)):
    """fn() evaluated with each thread count (1 twice: repeated runs agree too)."""
    results = []
    for T in counts:
        parallel.set_num_threads(T)
        results.append(fn())
    return results


def _assert_all_same(results):
    first = results[0]
    for other in results[1:]:
        assert len(other) == len(first)
        for x, y in zip(first, other):
            assert _same_bits(x, y)


# -- bit-identical passes -------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_forward_and_backward_are_bit_identical_for_any_thread_count(dtype):
    """Every activation's f(a) and dh ⊙ f'(a), sigmoid and softplus: serial = 2 = 3 threads."""
    A = _logits(dtype)
    dH = np.random.default_rng(1).normal(size=A.shape).astype(dtype)

    def run():
        out = [layers.sigmoid(A), layers.softplus(A)]
        with np.errstate(invalid="ignore"):                 # inf − inf in a few backwards
            for act in layers.ACTIVATIONS.values():
                h = act.forward(A)
                out += [h, act.backward(dH, A, h)]
        return out

    _assert_all_same(_under_threads(run))


def test_three_dimensional_arrays_are_split_over_all_leading_rows(split_everything):
    """(n, K, D) arrays, as in the importance sampler (n = 5 examples, K samples), are
    split into even blocks of the n·K rows, with the same bits as serially; a
    non-contiguous one is split along its first axis, still the same bits."""
    A = _logits(np.float32, shape=(5, 40, 33))
    seen = []

    def kernel(a, out=None):
        seen.append(a.shape)
        return np.exp(-np.abs(a), out=out)

    serial, two, strided = _under_threads(
        lambda: [layers.softplus(A), layers.sigmoid(A), layers.softplus(A[:, ::2])], (1, 2, 3))
    _assert_all_same([serial, two, strided])
    parallel.set_num_threads(2)
    parallel.elementwise(kernel, A)
    assert sorted(seen) == [(100, 33), (100, 33)]


def test_threaded_sigmoid_really_runs_on_two_threads(monkeypatch):
    """Planted check: the kernel sees two blocks from two threads (else nothing is shared)."""
    parallel.set_num_threads(2)
    seen = []

    def kernel(a, out=None):
        seen.append((threading.get_ident(), a.shape[0]))
        return np.exp(a, out=out)

    a = np.zeros((400, 1000))
    np.testing.assert_array_equal(parallel.elementwise(kernel, a, weight=1), 1.0)
    assert len(seen) == 2 and len({t for t, _ in seen}) == 2
    assert sorted(n for _, n in seen) == [200, 200]
    seen.clear()
    parallel.elementwise(kernel, np.zeros((4, 10)))        # below MIN_SIZE: one call
    assert len(seen) == 1 and seen[0] == (threading.get_ident(), 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_value_and_grad_are_bit_identical_for_any_thread_count(dtype):
    """(F4) and (B3): the value (summed on one thread) and the gradient, apart and from
    value_and_grad's one exponential, serial = threaded, and equal to the textbook forms."""
    A = _logits(dtype)[7:]
    A[~np.isfinite(A)] = 3.0
    X = np.random.default_rng(2).uniform(size=A.shape).astype(dtype)
    L = losses.BernoulliLoss

    def run():
        value, grad_shared = L.value_and_grad(A, X)
        return [np.float64(value), np.float64(L.value(A, X)), grad_shared, L.grad(A, X)]

    results = _under_threads(run)
    _assert_all_same(results)
    value, value_alone, grad_shared, grad_alone = results[0]
    assert _same_bits(value, value_alone) and _same_bits(grad_shared, grad_alone)
    B = A.shape[0]
    A64, X64 = A.astype(np.float64), X.astype(np.float64)
    textbook = np.sum(np.logaddexp(0, A64) - X64 * A64) / B
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert abs(value - textbook) <= tol * abs(textbook)
    np.testing.assert_allclose(grad_shared, (1 / (1 + np.exp(-A64)) - X64) / B,
                               rtol=tol, atol=tol / B)


def test_bernoulli_value_and_grad_computes_one_exponential(monkeypatch):
    """The sharing happens: value_and_grad takes e^{−|A|} once, value and grad apart
    take it twice, and value_and_grad(grad=False) returns no gradient."""
    calls = []
    real = losses._exp_neg_abs
    monkeypatch.setattr(losses, "_exp_neg_abs", lambda A: calls.append(1) or real(A))
    A, X = np.ones((8, 5)), np.full((8, 5), 0.5)
    _, g = losses.BernoulliLoss.value_and_grad(A, X)
    assert len(calls) == 1
    losses.BernoulliLoss.value(A, X)
    assert _same_bits(losses.BernoulliLoss.grad(A, X), g)
    assert len(calls) == 3
    assert losses.BernoulliLoss.value_and_grad(A, X, grad=False)[1] is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_steps_are_bit_identical_for_any_thread_count_and_block(dtype):
    """(O3)-(O5) on parameters of odd sizes whose blocks straddle the thread boundary."""
    rng = np.random.default_rng(4)
    shapes = {"W1": (77, 51), "b1": (51,), "W2": (51, 1), "b2": (1,), "W3": (300, 7)}
    start = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    grads = [{k: (rng.normal(size=s) * 10.0 ** rng.integers(-8, 2)).astype(dtype)
              for k, s in shapes.items()} for _ in range(5)]

    def run(block):
        def fit():
            params = {k: v.copy() for k, v in start.items()}
            opt = Adam(1e-2, block=block, flush_every=2)
            for g in grads:
                opt.step(params, g)
            return list(params.values()) + list(opt.m_scaled.values()) + \
                list(opt.s_scaled.values())
        return fit

    results = []
    for block in (7, 1000, 10**6):
        parallel.MIN_SIZE, saved = 1, parallel.MIN_SIZE
        try:
            results += _under_threads(run(block))
        finally:
            parallel.MIN_SIZE = saved
    _assert_all_same(results)


FITS = {
    "AE relu, Bernoulli": lambda: npae.Autoencoder((24, 8), activation="relu"),
    "AE tanh, tied, Gaussian": lambda: npae.Autoencoder((16,), activation="tanh",
                                                         output="gaussian", tied_weights=True),
    "CAE sigmoid": lambda: npae.ContractiveAutoencoder((12,), contractive_weight=0.1),
    "KL-sparse": lambda: npae.SparseAutoencoder((12,), sparsity="kl", sparsity_weight=0.1),
    "VAE softplus": lambda: npae.VAE((16,), latent_dim=3, activation="softplus"),
}


@pytest.mark.parametrize("name", sorted(FITS))
def test_seeded_fit_is_bit_identical_with_threading_on_and_off(name, split_everything):
    """Two epochs with one seed: parameters and history equal bit for bit, 1 vs 2 threads."""
    X = np.random.default_rng(5).uniform(size=(96, 30)).astype(np.float32)

    def fit():
        model = FITS[name]()
        model.set_params(epochs=2, batch_size=32, random_state=7, verbose=False)
        model.fit(X)
        return list(model.params_.values()) + [np.array(model.history_["loss"])]

    _assert_all_same(_under_threads(fit, counts=(1, 2, 1)))


# -- the setting ----------------------------------------------------------------------
def test_default_is_serial_whatever_the_core_count(monkeypatch):
    """Serial by default (npae/parallel.py, "Why serial by default"): OpenBLAS's
    spinning threads hold the other cores during training."""
    monkeypatch.delenv("NPAE_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert parallel.get_num_threads() == 1
    monkeypatch.setenv("NPAE_NUM_THREADS", "7")                # the opt-in
    assert parallel.get_num_threads() == 7


def test_environment_variable_and_set_num_threads(monkeypatch):
    monkeypatch.setenv("NPAE_NUM_THREADS", "1")
    assert npae.get_num_threads() == 1
    npae.set_num_threads(3)                                  # the call wins over the variable
    assert npae.get_num_threads() == 3
    assert npae.set_num_threads(None) == 3                   # returns the previous setting
    assert npae.get_num_threads() == 1                       # back to the variable
    assert npae.set_num_threads(2) is None                   # (None: it was the default)


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_a_bad_environment_value_is_named(monkeypatch, bad):
    monkeypatch.setenv("NPAE_NUM_THREADS", bad)
    with pytest.raises(ValueError, match="NPAE_NUM_THREADS must be a positive integer"):
        parallel.get_num_threads()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_refuses_what_is_not_a_positive_int(bad):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        npae.set_num_threads(bad)


def test_split_gives_contiguous_aligned_non_empty_blocks():
    for n, parts, align in [(10, 3, 1), (1000, 2, 64), (5, 8, 1), (130, 2, 64), (64, 2, 64)]:
        b = parallel.split(n, parts, align)
        assert b[0] == 0 and b[-1] == n and all(x < y for x, y in zip(b, b[1:]))
        assert len(b) - 1 <= parts and all(x % align == 0 for x in b[1:-1])
    assert parallel.split(1000, 2, 64) == [0, 448, 1000]


# -- errors, errstate, concurrent callers ------------------------------------------------
def test_an_error_in_a_worker_reaches_the_caller_and_the_pool_survives():
    parallel.set_num_threads(2)

    def fails_on_second_block(lo, hi):
        if lo > 0:
            raise KeyError("second block")

    with pytest.raises(KeyError, match="second block"):
        parallel.run_blocks(fails_on_second_block, 100, cost=10**9)
    done = []
    parallel.run_blocks(lambda lo, hi: done.append((lo, hi)), 100, cost=10**9)
    assert sorted(done) == [(0, 50), (50, 100)]


def test_the_callers_errstate_applies_in_the_workers():
    """np.errstate is per thread; the pool carries the caller's into each job."""
    parallel.set_num_threads(2)
    a = -np.ones((400, 1000))
    kernel = lambda x, out=None: np.log(x, out=out)        # noqa: E731  invalid everywhere
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        parallel.elementwise(kernel, a)
    with np.errstate(invalid="ignore"):                     # (pytest turns warnings to errors)
        assert np.isnan(parallel.elementwise(kernel, a)).all()


def test_two_user_threads_at_once_get_serial_results():
    """A call while the pool is busy runs on its own thread: still the same bits."""
    parallel.set_num_threads(2)
    A = _logits(np.float64)
    expected = layers.sigmoid(A)
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                results.append(layers.sigmoid(A))
        except BaseException as exc:        # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 60
    assert all(_same_bits(r, expected) for r in results)
