"""scikit-learn interoperability (issue 12 §1): npae models inside sklearn's tools.

scikit-learn is an optional test dependency (``pip install .[interop]``); these tests
skip without it, and npae itself never imports it.
"""
import warnings

import numpy as np
import pytest

import npae
from npae.datasets import load_glyph_digits

sklearn = pytest.importorskip("sklearn")
# LogisticRegression on a few hundred codes may stop at max_iter; not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore:lbfgs failed to converge")
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_glyph_digits(600, seed=0)
    return X, y


def _ae(**kw):
    kw = {"hidden_layer_sizes": (16,), "activation": "relu", "epochs": 10, "batch_size": 32,
          "learning_rate": 1e-2, "random_state": 0, "verbose": False, **kw}
    return npae.Autoencoder(**kw)


ESTIMATORS = [
    _ae(),
    npae.VAE(hidden_layer_sizes=(8,), latent_dim=2, epochs=1, verbose=False),
    npae.StackedAutoencoder(hidden_layer_sizes=(8, 4), pretrain_epochs=1, epochs=1,
                            verbose=False),
    npae.GaussianMixture(n_components=3, covariance_type="diag", random_state=0),
    npae.LinearProbe(l2=1e-3),
]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_clone_round_trips_get_params(est):
    twin = clone(est)
    assert type(twin) is type(est) and twin is not est
    assert twin.get_params() == est.get_params()
    assert est.get_params(deep=False) == est.get_params(deep=True)   # no nested estimators


def test_pipeline_autoencoder_then_logistic_regression_fits_and_scores(digits):
    """The issue's failing case: Pipeline.fit(X, y) passes y as fit's 2nd argument."""
    X, y = digits
    pipe = Pipeline([("ae", _ae()), ("clf", LogisticRegression(max_iter=500))])
    assert pipe.fit(X[:500], y[:500]) is pipe
    accuracy = pipe.score(X[500:], y[500:])
    print(f"pipeline accuracy on 100 held-out glyph digits: {accuracy:.2f}")
    assert accuracy > 0.5                               # chance is 0.1
    assert pipe.named_steps["ae"].n_features_in_ == 784


def test_set_params_with_nested_names_through_a_pipeline(digits):
    pipe = Pipeline([("ae", _ae()), ("clf", LogisticRegression())])
    pipe.set_params(ae__hidden_layer_sizes=(4,), clf__C=0.5)
    assert pipe.named_steps["ae"].hidden_layer_sizes == (4,)
    assert pipe.get_params()["ae__hidden_layer_sizes"] == (4,)
    X, y = digits
    pipe.fit(X[:200], y[:200])
    assert pipe.named_steps["ae"].transform(X[:3]).shape == (3, 4)


def test_grid_search_over_hidden_layer_sizes(digits):
    X, y = digits
    pipe = Pipeline([("ae", _ae(epochs=2)), ("clf", LogisticRegression(max_iter=300))])
    search = GridSearchCV(pipe, {"ae__hidden_layer_sizes": [(4,), (16,)]}, cv=2)
    search.fit(X[:300], y[:300])
    assert search.best_params_["ae__hidden_layer_sizes"] in [(4,), (16,)]
    assert len(search.cv_results_["mean_test_score"]) == 2


def test_grid_search_on_the_autoencoder_alone_uses_its_score(digits):
    """score(X, y=None): GridSearchCV passes y to the estimator's own score."""
    X, _ = digits
    search = GridSearchCV(_ae(epochs=1), {"learning_rate": [1e-3, 1e-2]}, cv=2)
    search.fit(X[:200])
    assert np.isfinite(search.best_score_)


def test_cross_val_score_of_the_vae_alone_uses_its_elbo(digits):
    X, y = digits
    scores = cross_val_score(npae.VAE((8,), latent_dim=2, epochs=1, random_state=0,
                                      verbose=False), X[:200], y[:200], cv=2)
    assert scores.shape == (2,) and np.all(np.isfinite(scores)) and np.all(scores < 0)


def test_cross_val_score_of_a_pipeline(digits):
    X, y = digits
    pipe = Pipeline([("ae", _ae(epochs=2)), ("clf", LogisticRegression(max_iter=300))])
    scores = cross_val_score(pipe, X[:300], y[:300], cv=3)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_cross_val_score_of_the_probe_and_the_mixture(digits):
    X, y = digits
    assert cross_val_score(npae.LinearProbe(), X[:300], y[:300], cv=3).mean() > 0.5
    Z = _ae(hidden_layer_sizes=(3,)).fit_transform(X[:300])
    ll = cross_val_score(npae.GaussianMixture(2, random_state=0), Z, cv=3)
    assert np.all(np.isfinite(ll))


def test_not_fitted_error_is_what_sklearn_tools_catch():
    from sklearn.exceptions import NotFittedError as SkNotFitted  # noqa: F401
    with pytest.raises(ValueError):
        _ae().transform(np.zeros((2, 784)))
    with pytest.raises(AttributeError):
        _ae().transform(np.zeros((2, 784)))
    assert not hasattr(_ae(), "n_features_in_")


def test_sklearn_check_is_fitted_agrees():
    from sklearn.utils.validation import check_is_fitted
    from sklearn.exceptions import NotFittedError as SkNotFitted
    X = np.random.default_rng(0).uniform(size=(20, 6))
    m = _ae(hidden_layer_sizes=(2,), epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SkNotFitted):
            check_is_fitted(m)
        check_is_fitted(m.fit(X))
