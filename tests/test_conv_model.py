"""npae.ConvAutoencoder: gradient checks of every term and the input (both decoders, every
noise), the Keras architecture, estimator conventions, persistence, errors."""
import numpy as np
import pytest

import npae
from npae import conv
from npae.gradcheck import check_model

EPS = 1e-5          # the checker's step; see _smooth_model for why it is small
MARGIN = 2e-3       # every ReLU pre-activation and every pooling gap at least this far from a kink
EPS_WIDE, MARGIN_WIDE = 1e-6, 2e-4      # the same for the Keras widths (16, 8, 8)


def _kink_distance(model, X, noise=None):
    """The smallest distance of the forward pass from a kink at X: |a| over ReLU units, and
    the gap between the largest and second largest entry of every pooling block whose
    maximum moves (a block of ReLU zeros with negative pre-activations is constant)."""
    B = X.shape[0]
    X_in = X if noise is None else noise.apply(X)
    if model.noise_clip is not None:
        X_in = np.clip(X_in, *model.noise_clip)
    enc, dec = model._stages(model.image_shape_)
    caches = model._run(model.params_, enc, X_in.reshape((B,) + model.image_shape_))
    caches += model._run(model.params_, dec, caches[-1].out)
    distance = np.inf
    for st, c in zip(enc + dec, caches):
        if st.activation is not None and st.activation.name == "relu":
            distance = min(distance, np.abs(c.pre).min())
        if st.after == "pool":
            r = np.pad(c.act, ((0, 0), (0, 0), (0, c.act.shape[2] % 2), (0, c.act.shape[3] % 2)),
                       constant_values=-np.inf)
            B_, C_, H_, W_ = r.shape
            blocks = r.reshape(B_, C_, H_ // 2, 2, W_ // 2, 2).transpose(0, 1, 2, 4, 3, 5) \
                .reshape(B_, C_, H_ // 2, W_ // 2, 4)
            top2 = -np.sort(-blocks, axis=-1)[..., :2]
            moving = top2[..., 0] > 0 if st.activation.name == "relu" else np.ones(top2.shape[:-1], bool)
            if blocks.shape[-1] > 1 and moving.any():
                distance = min(distance, (top2[..., 0] - top2[..., 1])[moving].min())
    if model.noise_clip is not None:
        raw = X if noise is None else noise.apply(X)
        distance = min(distance, np.abs(raw - model.noise_clip[0]).min(),
                       np.abs(raw - model.noise_clip[1]).min())
    return distance


def _smooth_model(side=8, n=2, noise_seed=0, margin=MARGIN, **kw):
    """The first seed whose point keeps MARGIN from every kink (ReLU at 0, pooling ties,
    the clip's edges). The checker moves one entry by at most 2·EPS = 2e-5, which moves a
    pre-activation or a pooling gap by far less than MARGIN = 2e-3 for O(1) kernels and
    pixels: inside that neighbourhood every ReLU keeps its side and every block its
    maximum, so the loss is smooth there and central differences are exact to O(EPS⁴).
    The full-width models have ~10× more units: they use EPS_WIDE and MARGIN_WIDE, the
    same ratio, so that a seed without a unit in the margin exists."""
    kw.setdefault("dtype", "float64")
    for seed in range(300):
        m = npae.ConvAutoencoder(random_state=seed, **kw).initialize(side * side)
        rng = np.random.default_rng(seed)
        for k, v in m.params_.items():                    # non-zero biases: a generic point
            if k.endswith(".b"):
                v += rng.normal(scale=0.1, size=v.shape)
        X = rng.uniform(0.05, 0.95, size=(n, side * side))
        noise = m.sample_noise(X, np.random.default_rng(noise_seed))
        if _kink_distance(m, X, noise) > margin:
            return m, X, noise
    raise RuntimeError("no smooth point found")


SMALL = dict(filters=(4, 2, 2))            # the Keras structure with fewer channels: fast


CONFIGS = [
    dict(),
    dict(weight_decay=0.01, sparsity="l1", sparsity_weight=0.1),
    dict(activation="tanh", output="gaussian"),
    dict(noise="gaussian", noise_level=0.5, noise_clip=(0.0, 1.0)),
    dict(noise="masking", noise_level=0.3),
    dict(noise="salt_and_pepper", noise_level=0.3),
]
IDS = ["relu", "penalties", "tanh-gaussian", "blog-denoising", "masking", "salt-pepper"]


@pytest.mark.parametrize("decoder,extra", [
    ("upsample", dict(weight_decay=0.01, sparsity="l1", sparsity_weight=0.1)),
    ("transposed", dict(noise="gaussian", noise_level=0.5, noise_clip=(0, 1)))],
    ids=["penalties-upsample", "blog-denoising-transposed"])
def test_every_term_and_the_input_pass_a_directional_check(decoder, extra):
    """The quick version of the next test: 4 random directions per array and over all
    arrays together (a wrong array is caught with probability 1, see npae.gradcheck)."""
    m, X, noise = _smooth_model(decoder=decoder, **SMALL, **extra)
    assert _kink_distance(m, X, noise) > MARGIN
    assert check_model(m, X, noise=noise, eps=EPS, directions=4).passed


@pytest.mark.slow       # 5-20 s each: every entry of every array, 4 stencil points
@pytest.mark.parametrize("decoder", ["upsample", "transposed"])
@pytest.mark.parametrize("extra", CONFIGS, ids=IDS)
def test_every_parameter_term_and_the_input_match_central_differences(decoder, extra):
    """Entrywise check of every kernel and bias, each term alone and together, and the
    input gradient, at a point MARGIN away from every kink (see _smooth_model)."""
    m, X, noise = _smooth_model(decoder=decoder, **SMALL, **extra)
    assert _kink_distance(m, X, noise) > MARGIN
    report = check_model(m, X, noise=noise, eps=EPS)
    assert report.passed
    terms = {"all"} | ({"recon", "sparsity", "weight_decay"} if "weight_decay" in extra else set())
    assert {r.term for r in report.rows} == terms
    assert {r.name for r in report.rows} == set(m.params_) | {"input X"}


@pytest.mark.slow
@pytest.mark.parametrize("decoder", ["upsample", "transposed"])
def test_the_default_architecture_passes_a_directional_check_on_12x12_images(decoder):
    """The Keras widths (16, 8, 8) on 1×12×12 (12 → 6 → 3 → 2, decoder 2 → 4 → 8 → 6 → 12):
    8 random directions per array and over all arrays, every term, and the input."""
    m, X, _ = _smooth_model(side=12, n=1, decoder=decoder, weight_decay=0.01,
                            sparsity="l1", sparsity_weight=0.1, margin=MARGIN_WIDE)
    report = check_model(m, X, eps=EPS_WIDE, directions=8)
    assert report.passed


@pytest.mark.slow       # about a minute each
@pytest.mark.parametrize("decoder", ["upsample", "transposed"])
def test_the_default_architecture_passes_the_entrywise_check(decoder):
    """The Keras widths (16, 8, 8) on 1×8×8 (8 → 4 → 2 → 1 → 2 → 4 → 8): every entry."""
    m, X, _ = _smooth_model(side=8, n=1, decoder=decoder, weight_decay=0.01, sparsity="l1",
                            sparsity_weight=0.1, margin=MARGIN_WIDE)
    assert check_model(m, X, eps=EPS_WIDE).passed


def test_the_default_is_the_keras_blog_architecture():
    """Shapes after every stage for 28×28 MNIST, and Keras's parameter count (4,385)."""
    m = npae.ConvAutoencoder(random_state=0).initialize(784)
    enc, dec = m._stages(m.image_shape_)
    X = np.random.default_rng(0).uniform(size=(2, 1, 28, 28)).astype(np.float32)
    caches = m._run(m.params_, enc, X)
    caches += m._run(m.params_, dec, caches[-1].out)
    assert [c.out.shape[1:] for c in caches] == [
        (16, 14, 14), (8, 7, 7), (8, 4, 4),                 # encoder: the code is (8, 4, 4)
        (8, 8, 8), (8, 16, 16), (16, 28, 28), (1, 28, 28)]  # 4→8→16, valid 16→14, up 28
    assert [(s.n_in, s.n_out, s.padding) for s in dec] == [(8, 8, 1), (8, 8, 1), (8, 16, 0),
                                                          (16, 1, 1)]
    assert m.n_parameters() == 4385 and m.code_shape_ == (8, 4, 4)
    assert {s.activation.name for s in enc + dec[:-1]} == {"relu"} and dec[-1].activation is None


def test_forward_matches_the_composition_of_the_primitives():
    """(F1)-(F5) written out with npae.conv for the transposed decoder."""
    m = npae.ConvAutoencoder(decoder="transposed", dtype="float64", random_state=1,
                             filters=(3, 2)).initialize(36)
    P = m.params_
    X = np.random.default_rng(2).uniform(size=(3, 36))
    h = X.reshape(3, 1, 6, 6)
    for l in range(2):
        h = conv.maxpool2d_forward(np.maximum(conv.conv2d_forward(h, P[f"enc.{l}.W"], P[f"enc.{l}.b"], 1, 1), 0), 2, "same")
    np.testing.assert_allclose(m.transform(X), h.reshape(3, -1))
    for l, q in enumerate([(0, 0), (1, 1)]):                 # 2 → 3 (odd), 3 → 6 (even)
        h = np.maximum(conv.conv_transpose2d_forward(h, P[f"dec.{l}.W"], P[f"dec.{l}.b"], 2, 1, q), 0)
    A = conv.conv2d_forward(h, P["dec.2.W"], P["dec.2.b"], 1, 1).reshape(3, -1)
    np.testing.assert_allclose(m.reconstruct(X), 1 / (1 + np.exp(-A)))
    bce = np.mean(np.sum(np.logaddexp(0, A) - X * A, axis=1))
    assert m.loss(X)[0] == pytest.approx(bce, rel=1e-12)


@pytest.mark.parametrize("k,p", [(3, 1), (3, 0), (5, 2), (5, 0), (1, 0)])
def test_a_narrowing_convolution_is_the_transposed_convolution_of_the_flipped_kernel(k, p):
    """conv (C11): conv2d(X; W, 1, p) = convᵀ(X; flip(W), 1, k − 1 − p), gradients included
    (dW flipped back); the model computes a stride-1 convolution to fewer channels this way."""
    from npae.models.conv import _flipped, _flipped_padding
    rng = np.random.default_rng(10 * k + p)
    X, W, b = (rng.standard_normal((2, 5, 7, 6)), rng.standard_normal((2, 5, k, k)),
               rng.standard_normal(2))
    A = conv.conv2d_forward(X, W, b, 1, p)
    q = _flipped_padding(W, p)
    np.testing.assert_allclose(conv.conv_transpose2d_forward(X, _flipped(W), b, 1, q), A,
                               rtol=1e-12, atol=1e-12)
    dA = rng.standard_normal(A.shape)
    for want, got, flip in zip(conv.conv2d_backward(dA, X, W, 1, p),
                               conv.conv_transpose2d_backward(dA, X, _flipped(W), 1, q),
                               (False, True, False)):
        np.testing.assert_allclose(_flipped(got) if flip else got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(_flipped(_flipped(W)), W)


@pytest.mark.parametrize("decoder", ["upsample", "transposed"])
def test_the_narrow_and_square_stages_give_what_the_im2col_path_gives(decoder, monkeypatch):
    """The default model's narrowing stages (16 → 8 and the output 16 → 1) run as transposed
    convolutions, and its 8 → 8 stages take their input gradient by the full convolution
    (conv (C11)); the loss and every gradient equal those of conv2d_forward/conv2d_backward
    (_via_flipped switched off) to rounding, in float64."""
    from npae.models import conv as conv_model
    m = npae.ConvAutoencoder(decoder=decoder, dtype="float64", random_state=0,
                             weight_decay=0.01).initialize(12 * 12)
    enc, dec = m._stages(m.image_shape_)
    routes = {s.name: conv_model._via_flipped(m.params_[f"{s.name}.W"], s)
              for s in enc + dec if not s.transposed}
    assert [n for n, r in routes.items() if r == "forward and backward"] == ["enc.1", "dec.3"]
    assert [n for n, r in routes.items() if r == "input gradient"] == (
        ["enc.2", "dec.0", "dec.1"] if decoder == "upsample" else ["enc.2"])
    X = np.random.default_rng(1).uniform(size=(3, 144))
    loss, _, grads, dX = m._forward_backward(m.params_, X, None, None, True, True)
    monkeypatch.setattr(conv_model, "_via_flipped", lambda W, st: None)
    loss0, _, grads0, dX0 = m._forward_backward(m.params_, X, None, None, True, True)
    assert loss == pytest.approx(loss0, rel=1e-12)
    for k in grads0:
        assert grads[k].shape == grads0[k].shape and grads[k].flags.c_contiguous
        np.testing.assert_allclose(grads[k], grads0[k], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dX, dX0, rtol=1e-10, atol=1e-12)


def test_blog_denoising_clips_the_corrupted_input_and_trains_on_the_clean_target():
    m = npae.ConvAutoencoder(noise="gaussian", noise_level=0.5, noise_clip=(0, 1),
                             dtype="float64", random_state=0).initialize(64)
    X = np.random.default_rng(0).uniform(size=(2, 64))
    noise = m.sample_noise(X, np.random.default_rng(1))
    clipped = npae.ConvAutoencoder(dtype="float64", random_state=0).initialize(64)
    X_tilde = np.clip(X + 0.5 * noise.eps, 0, 1)
    # the same loss as the clean model fed X̃ as input and scored against X
    enc, dec = clipped._stages(clipped.image_shape_)
    z = clipped._run(clipped.params_, enc, X_tilde.reshape(2, 1, 8, 8))[-1].out
    A = clipped._run(clipped.params_, dec, z)[-1].out.reshape(2, -1)
    expected = np.mean(np.sum(np.logaddexp(0, A) - X * A, axis=1))
    assert m.loss(X, noise=noise)[0] == pytest.approx(expected, rel=1e-12)
    assert (X + 0.5 * noise.eps > 1).any() and (X + 0.5 * noise.eps < 0).any()


def test_each_penalty_changes_the_gradient_only_when_its_weight_is_positive():
    base = npae.ConvAutoencoder(dtype="float64", random_state=0).initialize(64)
    X = np.random.default_rng(0).uniform(size=(2, 64))
    g0 = base.loss_and_grads(X)[2]
    for kw in (dict(weight_decay=0.1), dict(sparsity="l1", sparsity_weight=0.5)):
        m = npae.ConvAutoencoder(dtype="float64", random_state=0, **kw).initialize(64)
        _, values, g = m.loss_and_grads(X)
        assert len(values) == 2
        assert any(not np.allclose(g[k], g0[k]) for k in g)
        _, _, g_recon = m.loss_and_grads(X, terms=["recon"])
        assert all(np.array_equal(g_recon[k], g0[k]) for k in g0)


# -- estimator conventions -------------------------------------------------------------------
def _digits(n=64, side=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, side * side)).astype(np.float32)


def test_fit_is_seeded_float32_records_history_and_accepts_images():
    X = _digits()
    kw = dict(filters=(4, 2), epochs=2, batch_size=16, random_state=3, verbose=False)
    a = npae.ConvAutoencoder(**kw).fit(X, X_val=X[:16])
    b = npae.ConvAutoencoder(**kw).fit(X.reshape(-1, 1, 8, 8))
    assert all(np.array_equal(a.params_[k], b.params_[k]) for k in a.params_)   # bit-identical
    assert all(v.dtype == np.float32 for v in a.params_.values())
    assert len(a.history_["loss"]) == 2 and "val_loss" in a.history_
    assert a.transform(X).shape == (64, 2 * 2 * 2) and a.transform(X).dtype == np.float32
    np.testing.assert_array_equal(a.transform(X), a.transform(X.reshape(-1, 1, 8, 8)))
    assert a.reconstruct(X).shape == (64, 64)
    assert a.score(X) == pytest.approx(-a.loss(X)[0], rel=1e-5)
    assert a.reconstruction_error(X).mean() == pytest.approx(a.loss(X)[0], rel=1e-5)


def test_non_square_and_multichannel_images_with_image_shape():
    X = np.random.default_rng(0).uniform(size=(4, 2 * 6 * 10))
    for decoder in ("upsample", "transposed"):
        m = npae.ConvAutoencoder(image_shape=(2, 6, 10), filters=(3,), decoder=decoder,
                                 dtype="float64", random_state=0).initialize(120)
        assert m.reconstruct(X).shape == (4, 120)


def test_save_load_and_set_params(tmp_path):
    X = _digits()
    m = npae.ConvAutoencoder(filters=(4, 2), decoder="transposed", epochs=1, batch_size=32,
                             random_state=0, verbose=False).fit(X)
    path = m.save(tmp_path / "conv.npz")
    loaded = npae.load(path)
    assert type(loaded) is npae.ConvAutoencoder and loaded.get_params() == m.get_params()
    assert loaded.image_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(loaded.transform(X), m.transform(X))
    assert npae.ConvAutoencoder.load(path).n_parameters() == m.n_parameters()
    assert m.set_params(learning_rate=0.01) is m and m.learning_rate == 0.01
    m.transform(X)                                           # a training setting: still fitted
    m.set_params(filters=(4, 3))
    with pytest.raises(npae.NotFittedError, match="filters was changed by set_params"):
        m.transform(X)


BAD = [
    (dict(X=np.zeros(64)), "X must be 2-dimensional"),
    (dict(X=np.full((4, 50), 0.5)), "not a square number"),
    (dict(X=np.full((4, 64), 2.0)), r"X must lie in \[0, 1\]"),
    (dict(X=np.full((4, 1, 4, 16), 0.5), image_shape=(1, 8, 8)), "expected \\(C, H, W\\)"),
    (dict(image_shape=(1, 8)), "image_shape must be None or \\(C, H, W\\)"),
    (dict(image_shape=(1, 4, 4)), "has 16 pixels, but X has 64"),
    (dict(filters=(4, 0)), r"filters\[1\]"),
    (dict(kernel_size=2), "kernel_size must be odd"),
    (dict(decoder="deconv"), "decoder must be one of"),
    (dict(activation="gelu"), "activation must be one of"),
    (dict(output="poisson"), "output must be one of"),
    (dict(sparsity="kl"), "sparsity must be None or 'l1'"),
    (dict(sparsity_weight=0.1), "has no effect without a penalty"),
    (dict(noise_level=0.3), "has no effect with noise=None"),
    (dict(noise="masking", noise_level=1.5), "noise_level"),
    (dict(noise_clip=(0, 1)), "noise_clip clips the corrupted input: it needs a noise"),
    (dict(noise="gaussian", noise_clip=(1, 0)), r"noise_clip\[1\]"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(X=np.full((4, 25), 0.5), filters=(4,)), "use decoder='transposed'"),   # 5 → 3 → 6 or 2
    (dict(dtype="int32"), "dtype must be float32 or float64"),
]


@pytest.mark.parametrize("kw,message", BAD)
def test_bad_input_raises_a_clear_error_and_leaves_the_model_unfitted(kw, message):
    kw = dict(kw)
    X = kw.pop("X", np.full((4, 64), 0.5))
    m = npae.ConvAutoencoder(**{"epochs": 1, "verbose": False, **kw})
    with pytest.raises(ValueError, match=message):
        m.fit(X)
    assert getattr(m, "params_", None) is None


def test_unfitted_and_wrong_size_inputs_are_refused():
    m = npae.ConvAutoencoder()
    with pytest.raises(npae.NotFittedError):
        m.transform(np.zeros((1, 64)))
    m = npae.ConvAutoencoder(filters=(2,), random_state=0).initialize(64)
    with pytest.raises(ValueError, match="X must have 64 columns"):
        m.transform(np.zeros((1, 49)))
    with pytest.raises(ValueError, match="Z must have 32 columns"):
        m.inverse_transform(np.zeros((1, 5)))


@pytest.mark.slow
@pytest.mark.mnist
def test_default_conv_autoencoder_learns_mnist_in_one_epoch(mnist_train):
    """One epoch on 10,000 digits at least halves the held-out BCE of the initial model
    (large: the initial logits are small, so every pixel costs about log 2 nats)."""
    X, X_held = mnist_train[0][:10000], mnist_train[0][-2000:]
    m = npae.ConvAutoencoder(epochs=0, random_state=0, verbose=False).fit(X)
    before = -m.score(X_held)
    m.set_params(epochs=1).fit(X)
    after = -m.score(X_held)
    assert before > 400 and after < 0.5 * before, (before, after)
