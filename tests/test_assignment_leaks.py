"""No answer left in the hand-out (issue 18, section 2).

The teacher trial's homework — six questions — is built once per module. Every leak the
trial found must be gone from student/, the student build must import and its kept
tests pass, and a leak planted after the build's own redaction (a formula in a
tutorial comment, in docs/, in a test file; a second function that computes an answer
by another route) must fail the build, naming the file and line. The hints of the
known mistakes must never state a redacted formula.
"""
import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from npae.assignments import build as build_module
from npae.assignments import catalog, leaks, mutants, stubbing
from npae.assignments.build import BuildError, build
from npae.assignments.spec import module_path
from assignment_specs import TRIAL_SPEC as SPEC

ROOT = Path(__file__).resolve().parents[1]


# what the trial found in student/, as it is written in the reference
FOUND = {
    "q1 (B8)": "(1/B) β [−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)]",
    "q2 (P13)": "(λ/B) 2 σ'_nj q_j (1 − 2 h_nj)",
    "q2 (P14)": "(λ/B) Σ_n σ'_nj² · 2 W_ij",
    "q2 (B10)": "(2λ_c/B) σ' q (1 − 2h)",
    "q2 (B11)": "(2λ_c/B) W ⊙ Σ_n σ'_n²",
    "q2 contractive_explicit_grad": "∂R/∂h = ∂R/∂σ' ⊙ (1 − 2h)",
    "q4 tests": "½(σ² − 1)",
    "q4 (E6)": "½ (σ²_nj − 1)",
    "q5 (B12)": "the mask m for masking",
    "q3 (E8)": "dz ⊙ ½ std ⊙ ε",
    "q1 (P7) in tutorial 02": "beta_kl * (-0.05 / rho_bar + 0.95 / (1 - rho_bar))",
    "q6 (E1) in tutorial 07": "np.exp(joint) / np.exp(joint).sum(axis=1, keepdims=True)",
}


def _text_files(folder):
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.suffix in (".py", ".md", ".json", ".cfg", ".toml", ".txt"):
            yield path, path.read_text(encoding="utf-8")


def _student_env(student):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(student), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.fixture(scope="module")
def hw(tmp_path_factory, grading_sandbox):
    base = tmp_path_factory.mktemp("leaks")
    (base / "spec.toml").write_text(SPEC)
    lines = []
    build(base / "spec.toml", base / "hw", key="cd" * 32, log=lines.append)
    return base / "hw", lines


def test_the_trial_findings_are_in_the_reference():
    """The strings this file looks for are really there in the reference (so their absence
    from student/ means something)."""
    text = "".join(t for _, t in _text_files(ROOT / "npae")) + "".join(
        (ROOT / rel).read_text() for rel in ("tests/test_gradcheck.py", "tests/test_vae.py",
                                             "tutorials/02_sparse.py",
                                             "tutorials/07_gmm_and_generation.py"))
    for label, needle in FOUND.items():
        assert needle in text, label
    gmm = (ROOT / "npae/gmm.py").read_text()
    assert "log_joint - logsumexp(log_joint, axis=1)[:, None]" in gmm     # predict_proba


@pytest.mark.slow      # builds the six-question assignment (seconds)
def test_every_leak_the_trial_found_is_gone(hw):
    root, _ = hw
    student = root / "student"
    for path, text in _text_files(student):
        for label, needle in FOUND.items():
            assert needle not in text, f"{label} left in {path.relative_to(student)}"
        norm = leaks.normalize(text)
        for label in ("q1 (B8)", "q2 (P13)", "q2 (B10)", "q4 tests"):
            assert leaks.normalize(FOUND[label]) not in norm, \
                f"{label} left (normalized) in {path.relative_to(student)}"
    pen = (student / "npae/penalties.py").read_text()
    for tag, q in (("P7", "q1"), ("P8", "q1"), ("P13", "q2"), ("P14", "q2")):
        assert f"({tag}): derive this — question {q}" in pen
    ae = (student / "npae/models/autoencoder.py").read_text()
    for tag, q in (("B8", "q1"), ("B10", "q2"), ("B11", "q2"), ("B12", "q5")):
        assert f"({tag}): derive this — question {q}" in ae
    assert "(B9)  dh_L = dz ⊙ S" in ae                        # what no question asks is kept
    vae_src = (student / "npae/models/vae.py").read_text()
    assert "(B5): derive this — questions q3, q4" in vae_src
    tree = ast.parse(pen)
    doc = ast.get_docstring(stubbing.find_def(tree, "contractive_explicit_grad"))
    assert "\n" not in doc.strip()                            # its derivation is gone
    for rel in ("tests/test_gradcheck.py", "tests/test_vae.py"):
        text = (student / rel).read_text()
        assert "σ² − 1" not in text and "0.5 * (np.exp(" not in text, rel


@pytest.mark.slow      # builds the six-question assignment (seconds)
def test_no_other_function_computes_the_e_step(hw):
    """_log_joint and score_samples are stubs; predict_proba, predict and score go
    through the student's _e_step — so they raise until it is written, and agree with
    the reference once it is."""
    root, _ = hw
    student = root / "student"
    gmm = (student / "npae/gmm.py").read_text()
    tree = ast.parse(gmm)
    for name in ("_log_joint", "score_samples"):
        body = stubbing.find_def(tree, f"GaussianMixture.{name}").body
        assert isinstance(body[-1], ast.Raise), name
    for name in ("predict_proba", "predict", "score"):
        src = ast.unparse(stubbing.find_def(tree, f"GaussianMixture.{name}"))
        assert "self._e_step(" in src and "logsumexp" not in src, name
    probe = textwrap.dedent("""\
        import numpy as np
        from npae.gmm import GaussianMixture
        rng = np.random.default_rng(0)
        X = np.concatenate([rng.normal(-3, 1, (40, 2)), rng.normal(3, 1, (40, 2))])
        g = GaussianMixture(n_components=2, random_state=0)
        try:
            g.fit(X)
            print("fit", "%.10g %d %.10g" % (g.predict_proba(X)[:, 0].sum(), g.predict(X).sum(),
                                             g.score(X)))
        except NotImplementedError as exc:
            print("stub", str(exc).split(":")[0])
        """)
    r = subprocess.run([sys.executable, "-c", probe], cwd=student, env=_student_env(student),
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "stub q6", r.stderr[-2000:]
    answered = root / "answered"
    shutil.copytree(student / "npae", answered / "npae")
    solved, _ = stubbing.take_functions(gmm, (root / "solutions/npae/gmm.py").read_text(),
                                        ["GaussianMixture._e_step"])
    (answered / "npae/gmm.py").write_text(solved)
    r = subprocess.run([sys.executable, "-c", probe], cwd=answered,
                       env=_student_env(answered), capture_output=True, text=True, timeout=120)
    ref = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=_student_env(ROOT),
                         capture_output=True, text=True, timeout=120)
    assert r.stdout.startswith("fit") and r.stdout == ref.stdout, (r.stdout, ref.stdout)


@pytest.mark.slow      # builds the six-question assignment (seconds)
def test_the_student_build_imports_and_its_kept_tests_pass(hw):
    """Every module imports; the kept tests of the touched modules pass (a test that
    reaches a stub is skipped by the hook the build adds to conftest.py)."""
    root, _ = hw
    student = root / "student"
    mods = [".".join(p.relative_to(student).with_suffix("").parts)
            for p in (student / "npae").rglob("*.py") if p.name != "__main__.py"]
    code = "import importlib\nfor m in %r:\n    importlib.import_module(m)\n" % mods
    r = subprocess.run([sys.executable, "-c", code], cwd=student, env=_student_env(student),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    files = ["tests/test_penalties.py", "tests/test_noise.py", "tests/test_gmm.py",
             "tests/test_vae.py", "tests/test_gradcheck.py"]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p",
                        "no:cacheprovider", *files], cwd=student, env=_student_env(student),
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:]
    summary = r.stdout.strip().splitlines()[-1]
    print(summary)
    assert "passed" in summary and "skipped" in summary      # both kinds: a real run


@pytest.mark.slow      # builds the assignment again, with leaks planted (seconds)
def test_a_planted_leak_fails_the_build_naming_file_and_line(tmp_path, monkeypatch):
    """Leaks planted after the build's own redaction — a formula in a tutorial comment, in
    docs/, in a test file; a function and a method of the exercise's class that compute
    an answer by another route — are each named, with file and line."""
    planted = {}

    def append(path, text):
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")

    def line_of(path, needle):
        return next(i for i, line in enumerate(path.read_text().splitlines(), 1)
                    if needle in line)

    original = build_module._strip_tutorials

    def strip_then_plant(student, *args):
        removed = original(student, *args)
        tut = student / "tutorials/02_sparse.py"
        append(tut, "\n# the gradient, for the record: β (−ρ/ρ̂ + (1−ρ)/(1−ρ̂)) / B\n")
        planted["tutorial"] = ("tutorials/02_sparse.py", line_of(tut, "for the record"))
        doc = student / "docs/notation.md"
        append(doc, "\nThe KL gradient in log-variance: \\tfrac12 (\\sigma^2 - 1).\n")
        planted["docs"] = ("docs/notation.md", line_of(doc, "KL gradient in log-variance"))
        test = student / "tests/test_vae.py"
        append(test, "\n# a reminder: dlogvar = 0.5 * (exp(logvar) - 1)\n")
        planted["test"] = ("tests/test_vae.py", line_of(test, "a reminder"))
        pen = student / "npae/penalties.py"
        append(pen, textwrap.dedent('''

            def sparsity_slope(h, rho, beta):
                """The KL penalty's slope, by central differences of kl_sparsity."""
                g = np.zeros_like(h)
                for idx in np.ndindex(*h.shape):
                    e = np.zeros_like(h)
                    e[idx] = 1e-6
                    g[idx] = (kl_sparsity(h + e, rho, beta) - kl_sparsity(h - e, rho, beta)) / 2e-6
                return g
            '''))
        planted["function"] = ("npae/penalties.py", line_of(pen, "def sparsity_slope"))
        gmm = student / "npae/gmm.py"
        gmm.write_text(gmm.read_text().replace("    def score(self, X, y=None):", textwrap.indent(
            textwrap.dedent('''\
            def responsibilities(self, X):
                """log γ by Bayes' rule, without _e_step."""
                joint = np.log(self.weights_) + _log_gaussian(X, self.means_, self.cholesky_,
                                                              self.covariance_type)
                return joint - np.log(np.exp(joint).sum(axis=1))[:, None]

            def score(self, X, y=None):
            '''), "    ").rstrip() + "\n"))
        planted["method"] = ("npae/gmm.py", line_of(gmm, "def responsibilities"))
        return removed

    monkeypatch.setattr(build_module, "_strip_tutorials", strip_then_plant)
    monkeypatch.setattr(build_module, "_validate", lambda *a, **k: [])   # leaks only here
    (tmp_path / "spec.toml").write_text(SPEC)
    with pytest.raises(BuildError) as err:
        build(tmp_path / "spec.toml", tmp_path / "out", log=lambda *a: None)
    message = str(err.value)
    print(message)
    for kind, (rel, line) in planted.items():
        assert re.search(rf"^  answer left \((text|code|numbers)\): {re.escape(rel)}:{line}: ",
                         message, re.M), (kind, rel, line)
    assert re.search(r"penalties\.py:\d+: sparsity_slope\(.*\) returns the answer of q1 ",
                     message)
    assert re.search(r"gmm\.py:\d+: GaussianMixture\.responsibilities\(X\) returns the "
                     r"answer of q6 ", message)
    named = set(re.findall(r"^  answer left \(\w+\): ([^:]+):\d+: ", message, re.M))
    assert named == {rel for rel, _ in planted.values()}, message    # nothing else was found
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]   # nothing written


# -- fast: the pieces -----------------------------------------------------------------------

def test_normalize_reads_unicode_ascii_code_and_latex_alike():
    same = ["½ (σ² − 1)", "1/2 * (sigma**2 - 1)", "0.5 * (np.exp(logvar) - 1)",
            r"\tfrac12\big(\sigma^2_{nj} - 1\big)", "½(σ²_nj − 1)"]
    assert len({leaks.normalize(s) for s in same}) == 1, [leaks.normalize(s) for s in same]
    rho = ["β [−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)]", "beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))",
           r"\beta \left(-\rho/\hat\rho + (1-\rho)/(1-\hat\rho)\right)"]
    assert len({leaks.normalize(s) for s in rho}) == 1, [leaks.normalize(s) for s in rho]
    assert leaks.normalize("½ (σ² + 1)") != leaks.normalize("½ (σ² − 1)")


def test_the_formulas_of_a_redacted_equation_are_its_right_hand_sides():
    found = leaks.formulas(ROOT, [("npae/models/vae.py", ("E6",), (), "q4"),
                                  ("npae/models/autoencoder.py", ("B8",), (), "q1")])
    norms = {n for _, _, n in found}
    assert leaks.normalize("½ (σ² − 1)") in norms
    assert leaks.normalize("(1/B) β [−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)]") in norms
    assert not any("logsigma^2" == n or n.startswith("dKL") for n in norms)   # no left sides
    lines = ["x = 1\n", "# dlog σ² is (β/B) ½ (σ² − 1) here\n", "y = 2\n"]
    assert leaks.containing_formula(lines[1], found)
    assert not leaks.containing_formula("KL_n = −½ Σ_j (1 + log σ² − μ² − σ²)", found)


def test_no_hint_states_a_redacted_formula():
    """No hint of any exercise contains a formula that any exercise's build redacts (the
    q3 hint used to be (E8) word for word, to be fished for with `npae check`)."""
    where = []
    for ex in catalog.CATALOG.values():
        where.append((str(module_path(ex.module)), ex.tags, ex.redact, ex.id))
        where += [(path, tags, (), ex.id) for path, tags in ex.answer_tags]
    found = leaks.formulas(ROOT, where)
    assert len(found) > 20
    hints = [m for ms in mutants.MUTANTS.values() for m in ms]
    assert len(hints) > 40
    for m in hints:
        assert not leaks.containing_formula(m.hint, found), (m.exercise, m.label, m.hint)
    q3 = next(m for m in mutants.mutants_of("npae.models.vae:reparameterize_backward")
              if m.label == "reparam_variance")
    assert "(E8)" in q3.hint and "½ std ⊙ ε" not in q3.hint and "½ σ ⊙ ε" not in q3.hint
    for m in hints:                              # each still names its equation or function
        assert re.search(r"\([A-Z]+\d+\)|'\(a\)|σ\(a\)|exp|−inf", m.hint), m.hint


def test_every_answer_tag_names_an_equation_of_its_file():
    for ex in catalog.CATALOG.values():
        for path, tags in [(str(module_path(ex.module)), ex.tags)] + list(ex.answer_tags):
            lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
            spans = {tag for _, _, tag in stubbing.equation_spans(lines, tags)}
            assert spans == set(tags), (ex.id, path, set(tags) - spans)
        for target in ex.same_as_ids:
            module, qualname = target.split(":")
            tree = ast.parse((ROOT / module_path(module)).read_text(encoding="utf-8"))
            assert stubbing.find_def(tree, qualname) is not None, (ex.id, target)


def test_the_probe_binds_by_name_or_else_by_position_and_sees_exp_and_log():
    from npae.assignments import leakprobe
    named = {"h": np.ones((2, 3)), "rho": 0.1, "beta": 2.0}
    args = (named["h"], 0.1, 2.0)

    def by_name(h, rho, beta, out=None):
        return h

    def renamed(x, r, b):
        return x

    def other(h, W):
        return h

    assert leakprobe._bindings(by_name, named, args, False) == [((), named)]
    assert leakprobe._bindings(renamed, named, args, False) == [(args, {})]
    assert leakprobe._bindings(other, named, args, False) == []
    answer = np.log(np.array([[0.2, 0.8], [0.5, 0.5]]))
    assert leakprobe._returns_answer((np.exp(answer), 3.0), [answer])
    assert not leakprobe._returns_answer(np.exp(answer) + 1e-3, [answer])


def _catalog_specs():
    """The whole catalog as few specs as its conflicts allow (an exercise is not asked
    beside one its checks use): greedily, in catalog order."""
    left, specs = list(catalog.CATALOG), []
    while left:
        chosen = []
        for eid in left:
            ex = catalog.CATALOG[eid]
            if any(d in chosen for d in ex.uses) or any(
                    eid in catalog.CATALOG[c].uses for c in chosen):
                continue
            chosen.append(eid)
        left = [e for e in left if e not in chosen]
        specs.append(chosen)
    return specs


@pytest.mark.slow      # builds the whole catalog, without grading (a minute)
def test_no_exercise_of_the_catalog_leaks_its_answer(tmp_path, monkeypatch):
    """Every exercise, not just the trial's: the build's redaction and its three leak
    checks pass for each (an earlier run found README, tutorials/README, autoencoder
    (B2)/(B4) and two first-line docstrings stating answers). Grading the references and
    mutants is left out here; test_assignments grades every one in-process."""
    monkeypatch.setattr(build_module, "_validate", lambda *a, **k: [])
    specs = _catalog_specs()
    assert sum(map(len, specs)) == len(catalog.CATALOG)
    for i, chosen in enumerate(specs):
        lines = [f'title = "The whole catalog, part {i + 1}"', ""]
        for j, eid in enumerate(chosen, 1):
            lines += ["[[questions]]", f'id = "q{j}"', f'exercise = "{eid}"', "points = 1", ""]
        (tmp_path / f"spec{i}.toml").write_text("\n".join(lines))
        build(tmp_path / f"spec{i}.toml", tmp_path / f"out{i}", log=lambda *a: None)
        assert (tmp_path / f"out{i}" / "student" / "ASSIGNMENT.md").is_file()
