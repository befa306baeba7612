"""npae.conv: every primitive against finite differences (hypothesis), against a direct loop
written here from the equations, and the identities the module docstring derives."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npae import conv
from npae.gradcheck import check_vjp

# derandomized: the quick loop sees the same examples every run; a few seconds in all
PROPERTY = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def conv_setting(draw):
    """A small random convolution: batch, channels, sizes, kernel, stride, padding."""
    k = draw(st.integers(1, 4))
    p = draw(st.integers(0, 2))
    s = draw(st.integers(1, 3))
    H = draw(st.integers(max(1, k - 2 * p), 9))
    W = draw(st.integers(max(1, k - 2 * p), 9))
    return dict(B=draw(st.integers(1, 3)), C=draw(st.integers(1, 3)), F=draw(st.integers(1, 3)),
                H=H, W=W, k=k, s=s, p=p, seed=draw(st.integers(0, 2**16)))


# -- direct loops, one output entry at a time, straight from the equations ------------------
def loop_conv2d(X, W, b, s, p):
    """(C3) with explicit loops over n, f, i, j."""
    B, C, H, Wd = X.shape
    F, _, kh, kw = W.shape
    Xp = np.zeros((B, C, H + 2 * p, Wd + 2 * p))
    Xp[:, :, p:p + H, p:p + Wd] = X
    Ho, Wo = (H + 2 * p - kh) // s + 1, (Wd + 2 * p - kw) // s + 1
    A = np.zeros((B, F, Ho, Wo))
    for n in range(B):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    A[n, f, i, j] = np.sum(Xp[n, :, s * i:s * i + kh, s * j:s * j + kw]
                                           * W[f]) + b[f]
    return A


def loop_conv_transpose2d(X, W, b, s, p, q):
    """Scatter form: every input pixel adds its value times the kernel into the output."""
    B, C_in, H, Wd = X.shape
    _, C_out, kh, kw = W.shape
    full = np.zeros((B, C_out, (H - 1) * s + kh + q, (Wd - 1) * s + kw + q))
    for n in range(B):
        for c in range(C_in):
            for i in range(H):
                for j in range(Wd):
                    full[n, :, s * i:s * i + kh, s * j:s * j + kw] += X[n, c, i, j] * W[c]
    Ho, Wo = full.shape[2] - 2 * p, full.shape[3] - 2 * p
    return full[:, :, p:p + Ho, p:p + Wo] + b[:, None, None]


def loop_maxpool(X, k, padding):
    B, C, H, Wd = X.shape
    Ho, Wo = (H // k, Wd // k) if padding == "valid" else (-(-H // k), -(-Wd // k))
    A = np.empty((B, C, Ho, Wo))
    for n in range(B):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    A[n, c, i, j] = X[n, c, k * i:k * i + k, k * j:k * j + k].max()
    return A


def loop_upsample(X, k):
    B, C, H, Wd = X.shape
    A = np.empty((B, C, H * k, Wd * k))
    for i in range(H * k):
        for j in range(Wd * k):
            A[:, :, i, j] = X[:, :, i // k, j // k]
    return A


def _arrays(cfg, transposed=False):
    rng = np.random.default_rng(cfg["seed"])
    X = rng.standard_normal((cfg["B"], cfg["C"], cfg["H"], cfg["W"]))
    shape = (cfg["C"], cfg["F"]) if transposed else (cfg["F"], cfg["C"])
    return X, rng.standard_normal(shape + (cfg["k"], cfg["k"])), rng.standard_normal(cfg["F"])


def _distinct(rng, shape, gap=0.1):
    """Entries all distinct, any two at least ``gap`` apart (a shuffled grid, plus jitter)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * gap + rng.uniform(0, gap / 10, n)).reshape(shape) - n * gap / 2


# -- gradient checks: hypothesis over shapes, strides, paddings, kernel sizes ----------------
@pytest.mark.slow      # over a second: the quick loop stays about a minute
@PROPERTY
@given(conv_setting())
def test_conv2d_backward_matches_finite_differences(cfg):
    X, W, b = _arrays(cfg)
    s, p = cfg["s"], cfg["p"]
    check_vjp(lambda X, W, b: conv.conv2d_forward(X, W, b, s, p),
              lambda G, X, W, b: conv.conv2d_backward(G, X, W, s, p), X, W, b)


@pytest.mark.slow      # over a second: the quick loop stays about a minute
@PROPERTY
@given(conv_setting(), st.integers(0, 2))
def test_conv_transpose2d_backward_matches_finite_differences(cfg, q):
    s, p = cfg["s"], cfg["p"]
    q = q % s
    X, W, b = _arrays(cfg, transposed=True)
    if (cfg["H"] - 1) * s + cfg["k"] + q - 2 * p < 1 or (cfg["W"] - 1) * s + cfg["k"] + q - 2 * p < 1:
        p = 0                                         # the padding would crop everything
    check_vjp(lambda X, W, b: conv.conv_transpose2d_forward(X, W, b, s, p, q),
              lambda G, X, W, b: conv.conv_transpose2d_backward(G, X, W, s, p, q), X, W, b)


@PROPERTY
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9),
       st.integers(1, 4), st.sampled_from(conv.POOL_PADDINGS), st.integers(0, 2**16))
def test_maxpool2d_backward_matches_finite_differences_away_from_ties(B, C, H, W, k, padding,
                                                                     seed):
    """The entries are ≥ 0.1 apart, so every block's maximum beats the runner-up by far more
    than the check's steps (2ε = 2e-3): the argmax is constant in a neighbourhood, where
    the max is the linear function "copy that entry" — a smooth point."""
    if padding == "valid" and (H < k or W < k):
        padding = "same"
    X = _distinct(np.random.default_rng(seed), (B, C, H, W))
    check_vjp(lambda X: conv.maxpool2d_forward(X, k, padding),
              lambda G, X: conv.maxpool2d_backward(G, X, k, padding), X)


@PROPERTY
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6),
       st.integers(1, 4), st.integers(0, 2**16))
def test_upsample2d_backward_matches_finite_differences(B, C, H, W, k, seed):
    X = np.random.default_rng(seed).standard_normal((B, C, H, W))
    check_vjp(lambda X: conv.upsample2d_forward(X, k),
              lambda G, X: conv.upsample2d_backward(G, k), X)


# -- the forward against the equations ------------------------------------------------------
@PROPERTY
@given(conv_setting())
def test_conv2d_forward_equals_the_direct_loop_and_the_output_size_formula(cfg):
    X, W, b = _arrays(cfg)
    s, p, k = cfg["s"], cfg["p"], cfg["k"]
    A = conv.conv2d_forward(X, W, b, s, p)
    expected = loop_conv2d(X, W, b, s, p)
    np.testing.assert_allclose(A, expected, rtol=1e-12, atol=1e-12)
    # (C1) against counting the window positions: i ≥ 0 with s·i + k ≤ H + 2p
    count = sum(1 for i in range(100) if s * i + k <= cfg["H"] + 2 * p)
    assert A.shape[2] == count == (cfg["H"] + 2 * p - k) // s + 1


@PROPERTY
@given(conv_setting(), st.integers(0, 2))
def test_conv_transpose2d_forward_equals_the_scatter_loop(cfg, q):
    s, p = cfg["s"], 0
    q = q % s
    X, W, b = _arrays(cfg, transposed=True)
    A = conv.conv_transpose2d_forward(X, W, b, s, p, q)
    np.testing.assert_allclose(A, loop_conv_transpose2d(X, W, b, s, p, q), rtol=1e-12,
                               atol=1e-12)
    assert A.shape[2] == (cfg["H"] - 1) * s + cfg["k"] + q          # (T1)


def test_conv_transpose2d_forward_with_padding_crops_the_scatter_loop():
    rng = np.random.default_rng(3)
    X, W, b = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(2)
    A = conv.conv_transpose2d_forward(X, W, b, stride=2, padding=1, output_padding=1)
    np.testing.assert_allclose(A, loop_conv_transpose2d(X, W, b, 2, 1, 1), atol=1e-12)
    assert A.shape == (2, 2, 10, 8)                                   # (5−1)·2 − 2 + 3 + 1


@pytest.mark.parametrize("padding", conv.POOL_PADDINGS)
def test_maxpool2d_and_upsample2d_forward_equal_the_direct_loops(padding):
    X = np.random.default_rng(0).standard_normal((2, 3, 7, 5))
    for k in (1, 2, 3):
        np.testing.assert_array_equal(conv.maxpool2d_forward(X, k, padding), loop_maxpool(X, k, padding))
        np.testing.assert_array_equal(conv.upsample2d_forward(X, k), loop_upsample(X, k))


# -- identities of the derivation -----------------------------------------------------------
@PROPERTY
@given(conv_setting())
def test_transposed_convolution_is_the_adjoint_of_convolution(cfg):
    """(T2) ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩ for the same W, biases off."""
    X, W, _ = _arrays(cfg)
    s, p, k = cfg["s"], cfg["p"], cfg["k"]
    Y = np.random.default_rng(cfg["seed"] + 1).standard_normal(conv.conv2d_forward(X, W, None, s, p).shape)
    q = ((cfg["H"] + 2 * p - k) % s, (cfg["W"] + 2 * p - k) % s)    # rows no window reached
    lhs = np.sum(conv.conv2d_forward(X, W, None, s, p) * Y)
    XT = conv.conv_transpose2d_forward(Y, W, None, s, p, q)
    assert XT.shape == X.shape
    assert np.isclose(lhs, np.sum(X * XT), rtol=1e-12, atol=1e-12)


def test_conv2d_input_gradient_is_the_transposed_convolution_of_dA():
    """(C8)-(C10) = (T3)-(T5): dX = convᵀ(dA; W), the kernel flipped inside the transpose."""
    rng = np.random.default_rng(1)
    X, W = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3))
    dA = rng.standard_normal(conv.conv2d_forward(X, W, None, 2, 1).shape)
    dX, _, _ = conv.conv2d_backward(dA, X, W, 2, 1)
    np.testing.assert_allclose(dX, conv.conv_transpose2d_forward(dA, W, None, 2, 1, 0), atol=1e-13)


def test_conv2d_input_gradient_is_a_full_convolution_with_the_flipped_kernel():
    """Stride 1, no padding: dX = correlation of dA padded by k − 1 with the kernel rotated
    by 180° and its channel axes swapped (the module docstring, after (C10))."""
    rng = np.random.default_rng(2)
    X, W = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 3, 2))
    dA = rng.standard_normal(conv.conv2d_forward(X, W, None).shape)
    dX, _, _ = conv.conv2d_backward(dA, X, W)
    flipped = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)              # (C, F, kh, kw)
    dA_full = np.pad(dA, ((0, 0), (0, 0), (2, 2), (1, 1)))
    np.testing.assert_allclose(dX, loop_conv2d(dA_full, flipped, np.zeros(3), 1, 0), atol=1e-12)


def test_conv2d_weight_gradient_is_a_correlation_of_the_input_with_dA():
    """(C7) dW[f, c] = Σ_n corr(X̄[n, c], dA[n, f]) for stride 1: dA plays the kernel."""
    rng = np.random.default_rng(4)
    X, W = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    dA = rng.standard_normal(conv.conv2d_forward(X, W, None, 1, 1).shape)
    _, dW, _ = conv.conv2d_backward(dA, X, W, 1, 1)
    Xp = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)))
    # treat channels as the batch: input (C, B, ·, ·), kernel dA as (F, B, Ho, Wo)
    expected = loop_conv2d(Xp.transpose(1, 0, 2, 3), dA.transpose(1, 0, 2, 3), np.zeros(4), 1, 0)
    np.testing.assert_allclose(dW, expected.transpose(1, 0, 2, 3), atol=1e-12)


# -- pooling: the switch, ties, the ragged edge --------------------------------------------
def test_maxpool_tie_sends_the_gradient_to_the_first_maximum_in_row_major_order():
    X = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])                       # three tied maxima
    dX = conv.maxpool2d_backward(np.array([[[[5.0]]]]), X, 2)
    np.testing.assert_array_equal(dX, [[[[0.0, 5.0], [0.0, 0.0]]]])   # top row, left-most tie
    X = np.zeros((1, 1, 2, 2))                                       # all tied
    dX = conv.maxpool2d_backward(np.ones((1, 1, 1, 1)), X, 2)
    np.testing.assert_array_equal(dX, [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_maxpool_gradient_goes_to_exactly_one_entry_per_block_and_sums_to_dA():
    rng = np.random.default_rng(5)
    X = _distinct(rng, (2, 3, 6, 6))
    dA = rng.standard_normal((2, 3, 3, 3))
    dX = conv.maxpool2d_backward(dA, X, 2)
    blocks = dX.reshape(2, 3, 3, 2, 3, 2)
    assert np.all(np.count_nonzero(blocks, axis=(3, 5)) == 1)
    np.testing.assert_allclose(blocks.sum(axis=(3, 5)), dA)
    winners = blocks != 0
    Xb = X.reshape(2, 3, 3, 2, 3, 2)
    np.testing.assert_array_equal(np.where(winners, Xb, 0).sum(axis=(3, 5)), Xb.max(axis=(3, 5)))


def test_same_pooling_maps_7_to_4_and_the_padding_never_wins():
    X = -np.abs(np.random.default_rng(6).standard_normal((1, 2, 7, 7))) - 1    # all below 0
    A = conv.maxpool2d_forward(X, 2, "same")
    assert A.shape == (1, 2, 4, 4)
    np.testing.assert_array_equal(A[:, :, 3, 3], X[:, :, 6, 6])      # a 1 × 1 edge block
    dX = conv.maxpool2d_backward(np.ones_like(A), X, 2, "same")
    assert dX.shape == X.shape and dX.sum() == A.size                # nothing lost to padding
    assert conv.maxpool2d_forward(X, 2, "valid").shape == (1, 2, 3, 3)
    assert not conv.maxpool2d_backward(np.ones((1, 2, 3, 3)), X, 2)[:, :, 6, :].any()


def test_upsample_backward_is_the_sum_over_each_block():
    dA = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(conv.upsample2d_backward(dA, 2),
                                  [[[[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]]]])


# -- bad input ------------------------------------------------------------------------------
def test_bad_arguments_are_refused_with_the_argument_named():
    X, W, b = np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="X must be a 4-D float array"):
        conv.conv2d_forward(np.zeros((2, 5, 5)), W, b)
    with pytest.raises(ValueError, match=r"W.shape\[1\] must equal the input channels"):
        conv.conv2d_forward(X, np.zeros((3, 1, 3, 3)), b)
    with pytest.raises(ValueError, match=r"b must be an array of shape \(3,\)"):
        conv.conv2d_forward(X, W, np.zeros(2))
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        conv.conv2d_forward(X, W, b, stride=0)
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        conv.conv2d_forward(X, W, b, padding=1.5)
    with pytest.raises(ValueError, match="kernel side 7 is larger"):
        conv.conv2d_forward(X, np.zeros((3, 2, 7, 7)), b)
    with pytest.raises(ValueError, match="dA must have the output's shape"):
        conv.conv2d_backward(np.zeros((1, 3, 4, 4)), X, W)
    with pytest.raises(ValueError, match=r"W.shape\[0\] must equal the input channels"):
        conv.conv_transpose2d_forward(X, W, b)
    with pytest.raises(ValueError, match="output_padding must be smaller than stride"):
        conv.conv_transpose2d_forward(X, np.zeros((2, 3, 3, 3)), b, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="padding must be one of"):
        conv.maxpool2d_forward(X, 2, "full")
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        conv.upsample2d_forward(X, 0)
    with pytest.raises(ValueError, match="multiples of size=2"):
        conv.upsample2d_backward(np.zeros((1, 1, 3, 4)), 2)


def test_backward_with_the_forward_patch_matrix_gives_the_same_bits():
    rng = np.random.default_rng(7)
    X, W = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    A, P = conv.conv2d_forward(X, W, None, 2, 1, return_cols=True)
    dA = rng.standard_normal(A.shape)
    for a, b in zip(conv.conv2d_backward(dA, X, W, 2, 1, cols=P), conv.conv2d_backward(dA, X, W, 2, 1)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="cols must be the patch matrix of X"):
        conv.conv2d_backward(dA, X, W, 2, 1, cols=P[:, 1:])


def test_the_two_gradients_of_conv2d_stand_alone():
    """conv2d_backward is (C6) plus conv2d_weight_grad (C7) and conv2d_input_grad (C8)-(C10);
    each alone needs only what it reads (dX: dA, W and the input size, which a stride > 1
    leaves ambiguous: 7 and 8 rows both give 3 at k = 3, s = 2, p = 0)."""
    rng = np.random.default_rng(11)
    W = rng.standard_normal((4, 3, 3, 3))
    for rows in (7, 8):
        X = rng.standard_normal((2, 3, rows, 6))
        dA = rng.standard_normal(conv.conv2d_forward(X, W, None, 2, 0).shape)
        assert dA.shape[2] == 3
        dX, dW, db = conv.conv2d_backward(dA, X, W, 2, 0)
        np.testing.assert_array_equal(conv.conv2d_input_grad(dA, W, (rows, 6), 2, 0), dX)
        np.testing.assert_array_equal(conv.conv2d_weight_grad(dA, X, (3, 3), 2, 0), dW)
        assert dX.shape == X.shape
    assert not dX[:, :, 7].any()           # 8 rows: the last one no window reached
    with pytest.raises(ValueError, match=r"input_size must be a pair \(rows, columns\)"):
        conv.conv2d_input_grad(dA, W, 8, 2, 0)
    with pytest.raises(ValueError, match=r"dA must have the output's shape \(B, 4, 3, 2\)"):
        conv.conv2d_input_grad(dA[:, :, :2], W, (8, 6), 2, 0)
    with pytest.raises(ValueError, match=r"kernel_size must be a pair \(rows, columns\) of integers >= 1"):
        conv.conv2d_weight_grad(dA, X, (0, 3), 2, 0)
    with pytest.raises(ValueError, match=r"dA must have the output's shape \(B, F, Ho, Wo\)"):
        conv.conv2d_weight_grad(dA[:, :, :2], X, (3, 3), 2, 0)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_maxpool2d_backward_equals_the_block_loop_with_ties(padding):
    """(M3) with many tied blocks (ReLU zeros, as in a model), ragged edges included; the
    loop is inside the test, so that an assignment build removing this test (it names
    maxpool2d_backward) leaves no answer behind in a helper."""
    rng = np.random.default_rng(12)
    X = np.maximum(rng.standard_normal((3, 2, 7, 6)), 0)             # many all-zero blocks
    dA = rng.standard_normal(conv.maxpool2d_forward(X, 2, padding).shape)
    expected = np.zeros(X.shape)
    for n, c, i, j in np.ndindex(dA.shape):     # np.argmax of a block: its first maximum
        block = X[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]            # ragged at a "same" edge
        u, v = np.unravel_index(np.argmax(block), block.shape)
        expected[n, c, 2 * i + u, 2 * j + v] = dA[n, c, i, j]
    np.testing.assert_array_equal(conv.maxpool2d_backward(dA, X, 2, padding), expected)
