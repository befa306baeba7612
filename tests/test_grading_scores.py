"""How a question's points are computed (npae.assignments.grading), in-process and fast.

The rules under test (issue 18, "points that mean something"): an answer wrong on every
random case scores 0 whatever special cases and properties it passes; properties and
special cases only take points away from an answer the random cases accept; a function
that computes its answer by finite differences of npae's forward (or loops over entries
calling npae) scores 0; an in-place edit of an argument costs IN_PLACE_PENALTY and is
named; a float32 answer to a values question is told why it fails.
"""
from pathlib import Path

import numpy as np
import pytest

from npae.assignments import catalog, grading, mutants
from npae.assignments.grading import CheckResult, QuestionResult
from npae.assignments.worker import Outcome, execute, one_line, resolver

NPAE_DIR = str(Path(catalog.__file__).resolve().parents[1])
REFERENCE = grading.reference_judge(grading.in_process_runner(NPAE_DIR))
RESOLVE = resolver()


def _grade(exercise_id, fn, seed=3):
    """The QuestionResult of ``fn`` (written as the exercise's function) at ``seed``,
    run in-process and watched as the worker watches a submission."""
    ex = catalog.get_exercise(exercise_id)

    def run(call):
        try:
            out, states, seen = execute(grading.materialize_call(call, RESOLVE), RESOLVE, fn,
                                        observe=NPAE_DIR)
            return Outcome(True, out, states, seen=seen)
        except Exception as exc:                    # noqa: BLE001
            return Outcome(False, reason=one_line(exc),
                           stub=isinstance(exc, NotImplementedError))
    judge = grading.Judge(run, REFERENCE.reference, REFERENCE.mutants)
    return grading.check_question(ex, "q", np.random.default_rng(seed), judge, n_random=3)


def test_the_score_is_the_random_fraction_times_the_other_checks():
    def rows(random, other):
        return ([CheckResult("gradient", f"r{i}", p, random=True) for i, p in enumerate(random)]
                + [CheckResult("property", f"p{i}", p) for i, p in enumerate(other)])
    assert QuestionResult("q", rows([True] * 3, [True])).fraction() == 1.0
    assert QuestionResult("q", rows([False] * 3, [True, True])).fraction() == 0.0
    # 2 of 3 random cases: 2/3, not also docked for the same failures again
    assert QuestionResult("q", rows([True, True, False], [True])).fraction() == \
        pytest.approx(2 / 3)
    # a failed property only takes points away: gradient weight 3, property weight 1
    assert QuestionResult("q", rows([True] * 3, [False])).fraction() == pytest.approx(3 / 4)
    loop = rows([True] * 3, [True])
    loop[0].loop = "npae.penalties.kl_sparsity was called 60 times"
    assert QuestionResult("q", loop).fraction() == 0.0
    edited = rows([True] * 3, [True])
    edited[1].modified = ("dX_tilde",)
    r = QuestionResult("q", edited)
    assert r.fraction() == pytest.approx(1 - grading.IN_PLACE_PENALTY)
    assert "dX_tilde" in " ".join(r.explain()) and not r.passed


@pytest.mark.parametrize("exercise_id, answer", [
    # zeros and constants of the right shapes
    ("npae.penalties:kl_sparsity_grad", lambda h, rho, beta: np.zeros_like(h)),
    ("npae.penalties:kl_sparsity_grad", lambda h, rho, beta: np.full(h.shape, 0.05)),
    ("npae.models.vae:reparameterize_backward",
     lambda dz, std, eps: (np.zeros_like(dz), np.zeros_like(dz))),
    ("npae.models.vae:gaussian_kl_grad",
     lambda mu, logvar: (np.zeros_like(mu), np.zeros_like(mu))),
    ("npae.noise:MaskingNoise.backward", lambda self, d: np.zeros_like(d)),
    ("npae.gmm:GaussianMixture._e_step",                 # a uniform γ: rows sum to 1
     lambda self, X, w, m, c: (np.full((X.shape[0], len(w)), -np.log(len(w))), -1.0)),
])
def test_answers_wrong_on_every_random_case_score_zero(exercise_id, answer):
    """Zeros passed "every row the same" and a uniform γ "rows sum to 1": no points now."""
    r = _grade(exercise_id, answer)
    assert r.value_fraction() == 0 and r.fraction() == 0.0
    assert "wrong on every random case" in " ".join(r.explain())


@pytest.mark.parametrize("exercise_id, label", [
    ("npae.penalties:kl_sparsity_grad", "kl_no_batch_mean"),
    ("npae.penalties:kl_sparsity_grad", "kl_sign"),
    ("npae.models.vae:reparameterize_backward", "reparam_variance"),
    ("npae.models.vae:gaussian_kl_grad", "kl_grad_std"),
])
def test_known_mistakes_wrong_everywhere_score_zero(exercise_id, label):
    """The issue's cases: a missing 1/B or a flipped sign passed q1's row property (1/5),
    and std for σ² passed log σ² = 0 (0.75/3). Each is wrong on every random case."""
    found = {m.label: m for m in mutants.mutants_of(exercise_id)}
    r = _grade(exercise_id, found[label].fn)
    special = [c for c in r.checks if not c.random]
    assert r.fraction() == 0.0, [c.line() for c in r.checks]
    assert any(c.passed for c in special)      # it does pass something: still 0 points


def _kl_by_finite_differences(h, rho, beta):
    g, eps = np.zeros_like(h), 1e-5
    for idx in np.ndindex(*h.shape):
        hp, hm = h.copy(), h.copy()
        hp[idx] += eps
        hm[idx] -= eps
        g[idx] = (kl_sparsity(hp, rho, beta) - kl_sparsity(hm, rho, beta)) / (2 * eps)
    return g


def _gaussian_kl_by_loop(mu, logvar):
    d_mu, d_lv, eps = np.zeros_like(mu), np.zeros_like(mu), 1e-6
    for j in range(mu.shape[1]):                     # a loop over units, npae forward inside
        e = np.zeros_like(mu)
        e[:, j] = eps
        d_mu[:, j] = (kl_divergence(mu + e, logvar) - kl_divergence(mu - e, logvar)) / (2 * eps)
        d_lv[:, j] = (kl_divergence(mu, logvar + e) - kl_divergence(mu, logvar - e)) / (2 * eps)
    return d_mu, d_lv


def test_finite_difference_answers_score_zero_and_say_why():
    """They pass every value check (to the checker's tolerance or close); the call count
    into npae's forward gives them away."""
    import npae.models.vae as vae
    import npae.penalties as pen
    _kl_by_finite_differences.__globals__["kl_sparsity"] = pen.kl_sparsity
    _gaussian_kl_by_loop.__globals__["kl_divergence"] = vae.kl_divergence
    for exercise_id, fn, forward in (
            ("npae.penalties:kl_sparsity_grad", _kl_by_finite_differences, "kl_sparsity"),
            ("npae.models.vae:gaussian_kl_grad", _gaussian_kl_by_loop, "kl_divergence")):
        r = _grade(exercise_id, fn)
        assert r.fraction() == 0.0
        why = " ".join(r.explain())
        assert f"{forward} was called" in why and "finite differences" in why, why


def test_every_catalog_reference_stays_below_the_loop_threshold():
    """No reference answer calls one npae function LOOP_CALLS times (it would score 0),
    and every backward exercise has an input of at least LOOP_CALLS entries, so finite
    differences over it need more calls than that."""
    for ex in catalog.CATALOG.values():
        r = grading.check_question(ex, "q", np.random.default_rng(0), REFERENCE)
        assert not r.loop and not r.modified and r.fraction() == 1.0, ex.id
        if ex.kind == "backward":
            case = ex.cases[0].draw(np.random.default_rng(0))
            _, inputs, _ = ex.oracle(case)
            assert max(np.size(x) for x in inputs) >= grading.LOOP_CALLS, ex.id


def test_an_in_place_edit_is_named_and_costs_the_penalty():
    def backward(self, dX_tilde):
        dX_tilde *= self.mask
        return dX_tilde
    r = _grade("npae.noise:MaskingNoise.backward", backward)
    assert all(c.passed for c in r.checks) and r.modified == ("dX_tilde",)
    assert r.fraction() == pytest.approx(1 - grading.IN_PLACE_PENALTY)
    assert "argument dX_tilde in place" in " ".join(r.explain())


def test_a_float32_e_step_is_told_its_dtype_and_the_output_by_name():
    from npae.gmm import GaussianMixture

    def e_step(self, X, weights, means, chol):
        log_gamma, ll = GaussianMixture._e_step(self, X, weights, means, chol)
        return log_gamma.astype(np.float32), ll
    r = _grade("npae.gmm:GaussianMixture._e_step", e_step)
    failed = [c for c in r.checks if c.random and not c.passed]
    assert failed, "float32 values pass the 1e-10 value check?"
    assert "log γ (the first output)" in failed[0].reason
    assert "float32" in failed[0].reason and "item 0" not in failed[0].reason


def test_the_loop_detector_counts_calls_not_the_elements_of_a_generator(tmp_path):
    """A generator expression resumes once per element, and each resume is a "call" event
    of the profiler; only real calls of the build's functions count."""
    import importlib.util
    from npae.assignments.worker import Observer
    (tmp_path / "m.py").write_text(
        "def helper(v):\n    return v\n\n"
        "def by_generator(xs):\n    return tuple(v + 1 for v in xs)\n\n"
        "def by_calls(xs):\n    return [helper(v) for v in xs]\n")
    spec = importlib.util.spec_from_file_location("m_observed", tmp_path / "m.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    for fn, expected in ((m.by_generator, {}), (m.by_calls, {"helper": 20})):
        with Observer(tmp_path, fn, (list(range(20)),)) as watcher:
            fn(list(range(20)))
        counts = {code.co_name: n for code, n in watcher.counts.items() if n > 1}
        assert counts == expected, fn.__name__
