"""Classroom assignments (npae.assignments): build a sample, grade the reference, the
untouched stubs, every known mistake, cheaters and hard-coded answers.

The sample is the issue's: the KL-sparsity gradient and the reparameterization gradient.
It is built once per module (about 10 s); every grading goes through the worker process.
"""
import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from npae.assignments import catalog, grading, leaks, mutants, stubbing
from npae.assignments.build import BuildError, _mutant_submission, build
from npae.assignments.grade import case_seed, grade_submission
from npae.assignments.gradescope import grade_all
from npae.assignments.spec import SpecError, load_spec
from assignment_specs import HOMEWORK3_SPEC as SPEC

KEY = "ab" * 32


@pytest.fixture(scope="module")
def hw(tmp_path_factory, grading_sandbox):
    base = tmp_path_factory.mktemp("hw")
    (base / "spec.toml").write_text(SPEC)
    t0 = time.perf_counter()
    build(base / "spec.toml", base / "hw", key=KEY, log=lambda *a: None)
    seconds = time.perf_counter() - t0
    print(f"sample build: {seconds:.1f} s")
    return base / "hw", seconds


def _submission(tmp_path, name, files):
    sub = tmp_path / name
    for rel, text in files.items():
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(text)
    return sub


def _with_function(student, rel, qualname, source):
    return stubbing.put_function((student / rel).read_text(), qualname, textwrap.dedent(source))


def _results(out, name):
    return json.loads((out / name / "results.json").read_text())


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_build_writes_the_three_folders_without_answers_and_fast(hw):
    """student/ has stubs, redacted equations, ASSIGNMENT.md, no key, no .git, no mutants."""
    root, seconds = hw
    assert seconds < 60
    student = root / "student"
    pen = (student / "npae/penalties.py").read_text()
    assert "raise NotImplementedError('q1: implement kl_sparsity_grad — see ASSIGNMENT.md')" in pen
    assert "(P7): derive this — question q1" in pen and "(P8): derive this — question q1" in pen
    assert "-rho / rho_hat + (1 - rho) / (1 - rho_hat)" not in pen   # the answer is gone
    assert "def kl_sparsity(h, rho, beta)" in pen             # the forward is kept
    vae_src = (student / "npae/models/vae.py").read_text()
    assert "(E8): derive this — question q2" in vae_src and "0.5 * std * eps" not in vae_src
    assert "(B8): derive this — question q1" in (student / "npae/models/autoencoder.py").read_text()
    assert not (student / "npae/assignments/mutants.py").exists()
    assert not list(student.rglob("__pycache__"))             # the leak probe wrote none
    assert not list((student / "tests").glob("test_assignment*"))
    assert not list(student.rglob("key")) and not list(student.rglob(".git"))
    assert (student / "ASSIGNMENT.md").read_text().count("### q") == 2
    assert (root / "autograder/key").read_text().strip() == KEY
    assert (root / "autograder/run_autograder").stat().st_mode & 0o111
    assert (root / "solutions/npae/penalties.py").is_file()
    assert "inspect.getsource(penalties.kl_sparsity_grad)" in \
        (student / "tutorials/02_sparse.py").read_text()      # prints the student's code


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_grading_the_reference_stubs_mutants_cheaters_and_hard_coded(hw, tmp_path):
    """The issue's "Done when": full marks, 0, < full with the hint, 0, < full."""
    root, _ = hw
    student, auto = root / "student", root / "autograder"
    subs = {"reference": shutil.copytree(root / "solutions", tmp_path / "reference"),
            "untouched": _submission(tmp_path, "untouched", {
                "npae/penalties.py": (student / "npae/penalties.py").read_text(),
                "npae/models/vae.py": (student / "npae/models/vae.py").read_text()})}
    expected_hints = {}
    for q, ex in (("q1", "npae.penalties:kl_sparsity_grad"),
                  ("q2", "npae.models.vae:reparameterize_backward")):
        question = next(x for x in load_spec_dict(auto).questions if x.id == q)
        for m in mutants.mutants_of(ex):
            where = tmp_path / f"mutant-{q}-{m.label}"
            _mutant_submission(student, question, m, where)
            subs[where.name] = where
            expected_hints[where.name] = (q, m.hint)
    cheat = """\
    def kl_sparsity_grad(h, rho, beta):
        import gc, sys
        me = sys._getframe().f_code
        for mod in list(sys.modules.values()):
            f = getattr(mod, "kl_sparsity_grad", None)
            if callable(f) and getattr(f, "__code__", me) is not me:
                return f(h, rho, beta)
        for obj in gc.get_objects():
            if getattr(obj, "__name__", "") == "kl_sparsity_grad" and obj.__code__ is not me:
                return obj(h, rho, beta)
        return clamp_rho_hat.__globals__["kl_sparsity_grad"](h, rho, beta)
    """
    cheat_vae = """\
    def reparameterize_backward(dz, std, eps):
        import sys
        return sys.modules["npae.models.vae"].__dict__["reparameterize_backward"](dz, std, eps)
    """
    subs["cheater"] = _submission(tmp_path, "cheater", {
        "npae/penalties.py": _with_function(student, "npae/penalties.py", "kl_sparsity_grad",
                                            cheat),
        "npae/models/vae.py": _with_function(student, "npae/models/vae.py",
                                             "reparameterize_backward", cheat_vae)})
    hard = """\
    def kl_sparsity_grad(h, rho, beta):
        return np.full(h.shape, 0.05)
    """
    hard_vae = """\
    def reparameterize_backward(dz, std, eps):
        return np.ones((4, 3)), np.full((4, 3), 0.5)
    """
    subs["hardcoded"] = _submission(tmp_path, "hardcoded", {
        "npae/penalties.py": _with_function(student, "npae/penalties.py", "kl_sparsity_grad",
                                            hard),
        "npae/models/vae.py": _with_function(student, "npae/models/vae.py",
                                             "reparameterize_backward", hard_vae)})
    out = tmp_path / "graded"
    t0 = time.perf_counter()
    grades = {g.name: g for g in grade_all(auto, list(subs.values()), out, log=lambda *a: None)}
    per_submission = (time.perf_counter() - t0) / len(subs)
    print(f"graded {len(subs)} submissions, {per_submission:.2f} s each")
    assert per_submission < 30

    ref = _results(out, "reference")
    assert ref["score"] == 8 and [t["score"] for t in ref["tests"]] == [5, 3]
    lines = "\n".join(t["output"] for t in ref["tests"])
    assert "PASS gradient: ρ̂_j = ρ case" in lines and "PASS gradient: log σ² = 0 case" in lines
    assert grades["untouched"].score == 0
    assert "not implemented yet" in _results(out, "untouched")["tests"][0]["output"]
    for name, (q, hint) in expected_hints.items():
        res = _results(out, name)
        test = next(t for t in res["tests"] if t["name"].startswith(q))
        assert test["score"] < test["max_score"], name
        assert f"hint: {hint}" in test["output"], name
    assert grades["cheater"].score == 0
    assert 0 <= grades["hardcoded"].score < 8
    for res in map(lambda n: _results(out, n), subs):
        assert set(res) >= {"score", "tests"}
        for t in res["tests"]:
            assert set(t) == {"name", "score", "max_score", "output", "visibility"}
            assert "Traceback" not in t["output"]
    csv = (out / "grades.csv").read_text().splitlines()
    assert csv[0] == "submission,q1,q2,total" and len(csv) == len(subs) + 1
    assert "reference,5,3,8" in csv


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_a_model_check_counts_once_the_unit_checks_pass(hw, tmp_path):
    """B hard-coded to the unit checks' batch size: units pass, the model (B = 5) fails;
    the models run only when every question's unit checks pass."""
    root, _ = hw
    student = root / "student"
    fixed_b = """\
    def kl_sparsity_grad(h, rho, beta):
        B = 6
        rho_hat = clamp_rho_hat(h.mean(axis=0))
        d = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
        return np.broadcast_to(d / B, h.shape).copy()
    """
    vae_ok = (root / "solutions/npae/models/vae.py").read_text()
    sub = _submission(tmp_path, "fixed_b", {"npae/penalties.py": _with_function(
        student, "npae/penalties.py", "kl_sparsity_grad", fixed_b), "npae/models/vae.py": vae_ok})
    g = grade_submission(root / "autograder", sub).questions["q1"]
    by_cat = {c.category: c for c in g.result.checks}
    assert all(c.passed for c in g.result.checks if c.category != "model")
    assert not by_cat["model"].passed and 0 < g.score < 5
    print(by_cat["model"].line())
    sub = _submission(tmp_path, "fixed_b_no_q2", {"npae/penalties.py": _with_function(
        student, "npae/penalties.py", "kl_sparsity_grad", fixed_b)})
    g = grade_submission(root / "autograder", sub).questions["q1"]
    assert g.score == 5            # q2 is a stub: the models (which use it) are not run
    wrong = """\
    def kl_sparsity_grad(h, rho, beta):
        return np.zeros_like(h)
    """
    sub = _submission(tmp_path, "zero", {"npae/penalties.py": _with_function(
        student, "npae/penalties.py", "kl_sparsity_grad", wrong)})
    g = grade_submission(root / "autograder", sub).questions["q1"]
    assert "model" not in {c.category for c in g.result.checks}     # not penalised twice


def load_spec_dict(auto):
    from npae.assignments.grade import load_autograder
    return load_autograder(auto)[0]


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_cases_are_per_student_reproducible_and_recorded(hw, tmp_path):
    """The same name draws the same cases (regrade); another name other ones."""
    root, _ = hw
    a1 = grade_submission(root / "autograder", root / "solutions", name="alice")
    a2 = grade_submission(root / "autograder", root / "solutions", name="alice")
    b = grade_submission(root / "autograder", root / "solutions", name="bob")
    assert a1.questions["q1"].seed == a2.questions["q1"].seed == \
        case_seed(KEY, "Homework 3: sparse and variational autoencoders", "q1", "alice")
    assert a1.questions["q1"].seed != b.questions["q1"].seed
    assert a1.questions["q1"].seed != a1.questions["q2"].seed
    nums = [[c.numbers for c in g.questions["q1"].result.checks] for g in (a1, a2, b)]
    assert nums[0] == nums[1] and nums[0] != nums[2]


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_edits_outside_the_exercise_are_ignored_and_reported(hw, tmp_path):
    root, _ = hw
    student = root / "student"
    src = (root / "solutions/npae/penalties.py").read_text()
    src = src.replace("def kl_sparsity(h, rho, beta):", "def kl_sparsity(h, rho, beta):\n"
                      "    return 0.0\n\n\ndef _unused(h, rho, beta):")
    sub = _submission(tmp_path, "edits", {"npae/penalties.py": src, "notes.txt": "hi"})
    g = grade_submission(root / "autograder", sub)
    assert g.questions["q1"].score == 5                   # its forward edit was not taken
    assert any("outside kl_sparsity_grad were ignored" in n for n in g.notes)
    assert any("notes.txt" in n for n in g.notes)
    assert any("npae/models/vae.py was not submitted" in n for n in g.notes)
    broken = _submission(tmp_path, "broken", {"npae/penalties.py": "def (:\n"})
    g = grade_submission(root / "autograder", broken)
    assert g.score == 0 and any("does not parse" in n for n in g.notes)
    assert student.is_dir()


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_a_slow_or_crashing_submission_scores_zero_with_one_line(hw, tmp_path):
    root, _ = hw
    student = root / "student"
    slow = _submission(tmp_path, "slow", {"npae/penalties.py": _with_function(
        student, "npae/penalties.py", "kl_sparsity_grad",
        "def kl_sparsity_grad(h, rho, beta):\n    while True:\n        pass\n")})
    from npae.assignments.grade import load_autograder
    assignment, key = load_autograder(root / "autograder")
    import dataclasses
    quick = dataclasses.replace(assignment, time_limit=0.5, cases=1)
    g = grade_submission(root / "autograder", slow, assignment=quick, key=key)
    checks = g.questions["q1"].result.checks
    assert g.questions["q1"].score == 0
    assert "timed out after 0.5 s" in checks[0].reason
    assert all("timed out after 0.5 s" in c.reason for c in checks[1:])   # not run again
    crash = _submission(tmp_path, "crash", {"npae/penalties.py": _with_function(
        student, "npae/penalties.py", "kl_sparsity_grad",
        "def kl_sparsity_grad(h, rho, beta):\n    import os\n    os._exit(3)\n")})
    g = grade_submission(root / "autograder", crash, assignment=quick, key=key)
    assert g.questions["q1"].score == 0
    assert "exited" in g.questions["q1"].result.checks[0].reason


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_the_worker_cannot_import_the_reference(hw, tmp_path):
    """In the worker, npae is the build under test, and no other npae is on sys.path."""
    root, _ = hw
    student = root / "student"
    probe = """\
    def kl_sparsity_grad(h, rho, beta):
        import sys, npae, os
        others = [p for p in sys.path if os.path.isdir(os.path.join(p or '.', 'npae'))]
        raise RuntimeError(f"npae={npae.__file__} others={others}")
    """
    sub = _submission(tmp_path, "probe", {"npae/penalties.py": _with_function(
        student, "npae/penalties.py", "kl_sparsity_grad", probe)})
    g = grade_submission(root / "autograder", sub)
    reason = g.questions["q1"].result.checks[0].reason
    tree = reason.split("npae=")[1].split("/npae/__init__.py")[0]
    assert "npae-grade-" in tree and f"others=['{tree}']" in reason, reason


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_npae_check_in_the_student_build(hw, tmp_path):
    """One line per question, never a traceback, exit 0 only when all pass, last line."""
    root, _ = hw
    student = tmp_path / "student"
    shutil.copytree(root / "student", student)

    def check(*qs):
        r = subprocess.run([sys.executable, "-m", "npae", "check", *qs], cwd=student,
                           capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout.strip().splitlines(), r.stderr

    rc, lines, err = check()
    assert rc == 1 and "Traceback" not in err + "".join(lines)
    assert lines[:2] == ["q1 kl_sparsity_grad: not implemented yet",
                         "q2 reparameterize_backward: not implemented yet"]
    assert "other random cases" in lines[-1] and "hidden checks" in lines[-1]
    m = next(m for m in mutants.mutants_of("npae.models.vae:reparameterize_backward")
             if m.label == "reparam_variance")
    q2 = next(q for q in load_spec_dict(root / "autograder").questions if q.id == "q2")
    _mutant_submission(root / "student", q2, m, student)
    rc, lines, _ = check("q2")
    assert rc == 1 and len(lines) == 3 and lines[0].startswith("q2 reparameterize_backward: fails")
    assert f"hint: {m.hint}" in lines[0]
    assert lines[1].strip().startswith("0 points: wrong on every random case (0 of 1)")
    for rel in ("npae/penalties.py", "npae/models/vae.py"):
        shutil.copy(root / "solutions" / rel, student / rel)
    rc, lines, _ = check()
    assert rc == 0, lines
    assert lines[0].startswith("q1 kl_sparsity_grad: passes all")
    tut = subprocess.run([sys.executable, "tutorials/02_sparse.py"], cwd=student, timeout=600,
                         capture_output=True, text=True,
                         env={"NPAE_FAST": "1", "NPAE_TUTORIAL_OUT": str(tmp_path / "fig"),
                              "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"})
    assert tut.returncode == 0, tut.stderr[-2000:]    # its answer lines are gone, it still runs
    assert f"from {(student / 'npae').resolve()}" in tut.stdout   # on the student's code
    rc, lines, _ = check("q9")
    assert rc == 2 and "unknown question 'q9'" in lines[0]


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_tutorial_setup_prefers_its_own_checkout(hw, tmp_path):
    """_setup.py in the student build loads the student's npae and prints its path."""
    root, _ = hw
    tut = root / "student" / "tutorials"
    r = subprocess.run([sys.executable, "-c", "import _setup"], cwd=tut, capture_output=True,
                       text=True, env={"NPAE_TUTORIAL_OUT": str(tmp_path), "PATH": "/usr/bin"},
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"from {(root / 'student' / 'npae').resolve()}" in r.stdout


def test_every_catalog_exercise_reference_passes_and_every_mutant_fails():
    """In-process, at two seeds: the reference scores 1, each mutant less, with its hint."""
    npae_dir = str(Path(catalog.__file__).resolve().parents[1])
    judge = grading.reference_judge(grading.in_process_runner(npae_dir))   # watched: no
    from npae.assignments.worker import Outcome, execute, one_line, resolver  # loops, no
    resolve = resolver()                                                   # in-place edits
    for ex in catalog.CATALOG.values():
        for seed in (0, 1):
            r = grading.check_question(ex, "q", np.random.default_rng(seed), judge)
            assert r.fraction() == 1.0, (ex.id, [c.line() for c in r.checks if not c.passed])
        assert mutants.mutants_of(ex.id), f"{ex.id} has no known mistakes"
        for m in mutants.mutants_of(ex.id):
            def run(call, m=m):
                try:
                    out, states, seen = execute(grading.materialize_call(call, resolve),
                                                resolve, m.fn, observe=npae_dir)
                    return Outcome(True, out, states, seen=seen)
                except Exception as exc:
                    return Outcome(False, reason=one_line(exc))
            r = grading.check_question(ex, "q", np.random.default_rng(2),
                                       grading.Judge(run, judge.reference, judge.mutants))
            assert r.fraction() < 1.0, (ex.id, m.label)
            assert m.hint in {c.hint for c in r.checks}, (ex.id, m.label)


def test_leak_check_compares_syntax_trees_not_text():
    """A copied solution (renamed variables) is a leak, and so is one of its expressions
    with other operands (``p["logvar"]`` for ``logvar``, 1 for 1.0); the kept forward
    pass is not."""
    parse = __import__("ast").parse
    sol = stubbing.find_def(parse(textwrap.dedent("""\
        def g(h, rho, beta):
            rho_hat = clamp(h.mean(axis=0))
            d = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
            return np.broadcast_to(d / h.shape[0], h.shape).copy()
        """)), "g")
    kl = stubbing.find_def(parse("def k(mu, logvar):\n"
                                 "    return mu, 0.5 * (np.exp(logvar) - 1.0)\n"), "k")
    kept = set(leaks.all_expressions(parse("def f(h):\n    rho_hat = clamp(h.mean(axis=0))\n")))
    renamed = "def t(x, r, b):\n    m = clamp(x.mean(axis=0))\n    d = b * (-r / m + (1 - r) / (1 - m))\n" \
              "    return np.broadcast_to(d / x.shape[0], x.shape).copy()\n"
    inline = "dR = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))\n"
    forward = "rho_hat = clamp(h.mean(axis=0))\n"
    test = "def test_x(p0):\n    assert close(d, 0.5 * (np.exp(p0['logvar']) - 1))\n"
    report = leaks.ast_leaks({"q1": sol, "q4": kl}, kept, {
        "a.py": renamed, "b.py": inline, "c.py": forward, "d.py": test})
    assert any(r.startswith("a.py:1: the body of t is the solution of q1") for r in report)
    assert any(r.startswith("b.py:1:") for r in report)
    assert any(r.startswith("d.py:2:") and "of q4" in r for r in report)
    assert not any(r.startswith("c.py") for r in report)


def test_build_refuses_bad_specs_and_existing_output(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\n[[questions]]\nid = "q1"\nexercise = "npae.nope:f"\npoints = 1\n')
    with pytest.raises(SpecError, match="unknown exercise 'npae.nope:f'"):
        load_spec(bad)
    bad.write_text('title = "x"\n[[questions]]\nid = "q1"\nexercise = '
                   '"npae.models.vae:gaussian_kl_grad"\npoints = 1\n[[questions]]\nid = "q2"\n'
                   'exercise = "npae.models.vae:kl_divergence"\npoints = 1\n')
    with pytest.raises(SpecError, match="checked with npae.models.vae:kl_divergence"):
        load_spec(bad)
    bad.write_text('title = "x"\npoint = 3\n')
    with pytest.raises(SpecError, match="unknown key 'point'"):
        load_spec(bad)
    (tmp_path / "spec.toml").write_text(SPEC)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")
    with pytest.raises(BuildError, match="already exists and is not empty"):
        build(tmp_path / "spec.toml", tmp_path / "out")
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep me"


@pytest.mark.slow      # builds or grades a whole assignment (seconds)
def test_build_fails_when_a_mutant_scores_full_marks(tmp_path, monkeypatch, grading_sandbox):
    """A "mistake" that is really correct code is caught: the build names it, writes nothing."""
    def kl_really_correct(h, rho, beta):
        rho_hat = clamp_rho_hat(h.mean(axis=0))  # noqa: F821 (names of npae.penalties)
        d_rho_hat = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
        return np.broadcast_to(d_rho_hat / h.shape[0], h.shape).copy()

    fake = mutants.Mutant("npae.penalties:kl_sparsity_grad", kl_really_correct, "(P0): none")
    monkeypatch.setitem(mutants.MUTANTS, fake.exercise, mutants.mutants_of(fake.exercise) + [fake])
    (tmp_path / "spec.toml").write_text(SPEC)
    with pytest.raises(BuildError, match="mutant kl_really_correct of q1 scores full marks"):
        build(tmp_path / "spec.toml", tmp_path / "out", log=lambda *a: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_cli_lists_the_catalog_and_reports_bad_specs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "npae", "assignment", "list"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0
    for exercise_id in catalog.CATALOG:
        assert exercise_id in r.stdout
    (tmp_path / "bad.toml").write_text('title = "x"\n')
    r = subprocess.run([sys.executable, "-m", "npae", "assignment", "build",
                        str(tmp_path / "bad.toml"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "[[questions]]" in r.stderr


def test_redaction_replaces_tagged_equations_and_their_continuations():
    doc = ["    (P6)  R = β Σ_j KL(ρ ‖ ρ̂_j),\n", "          KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂)\n",
           "    (P7)  ∂R/∂ρ̂_j = β [−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)]\n", "          more of (P7)\n",
           "    (P8)  ∂R/∂h_nj = (1/B) ∂R/∂ρ̂_j\n", "\n", "(P7) is prose and stays.\n",
           "    # (B10) dh_L += (2λ_c/B) σ' q (1 − 2h),\n", "    #       its continuation\n",
           "    dh = dh + dh_c    # (B10)\n"]
    out = stubbing.redact_lines(doc, tags={"P7": "question q1", "P8": "question q1",
                                           "B10": "questions q2, q3"})
    assert out == [doc[0], doc[1], "    (P7): derive this — question q1\n",
                   "    (P8): derive this — question q1\n", "\n", "(P7) is prose and stays.\n",
                   "    # (B10): derive this — questions q2, q3\n", doc[-1]]
    source = '"""Doc.\n\n    (P7)  a = b + c\n"""\nx = 1  # (P7)\n# (P7)  a = b + c\n'
    assert stubbing.redact_source(source, {"P7": "question q1"}) == (
        '"""Doc.\n\n    (P7): derive this — question q1\n"""\nx = 1  # (P7)\n'
        "# (P7): derive this — question q1\n")


def test_the_teaching_guide_counts_the_catalog():
    text = (Path(__file__).resolve().parents[1] / "docs" / "teaching.md").read_text()
    assert f"{len(catalog.CATALOG)} in all;" in text


def _spec(tmp_path, exercises):
    lines = ['title = "t"', ""]
    for j, eid in enumerate(exercises, 1):
        lines += ["[[questions]]", f'id = "q{j}"', f'exercise = "{eid}"', "points = 1", ""]
    (tmp_path / "spec.toml").write_text("\n".join(lines))
    return load_spec(tmp_path / "spec.toml")


def test_two_exercises_that_compute_one_thing_both_stay_exercises(tmp_path):
    """conv2d_input_grad and conv_transpose2d_forward compute the same map; each names
    the other in same_as (a body through itself). Asked together, both are the student's
    stubs, in either order, and never a body calling the other (that would recurse)."""
    from npae.assignments.build import _targets
    ids = ["npae.conv:conv2d_input_grad", "npae.conv:conv_transpose2d_forward"]
    for order in (ids, ids[::-1]):
        stubs = _targets(_spec(tmp_path, order))["npae.conv"]
        for eid in ids:
            assert isinstance(stubs[eid.split(":")[1]], str), (order, eid)   # the exercise stub
        assert stubs["_col2im"][1] is None                                   # a plain stub
    alone = _targets(_spec(tmp_path, ids[1:]))["npae.conv"]
    assert "conv_transpose2d_forward(" in alone["conv2d_input_grad"][1]       # goes through q1


def test_a_tag_of_one_module_does_not_strip_another_modules_tutorial(tmp_path, monkeypatch):
    """(M3) is max pooling in conv and an M step in gmm: a max-pooling question strips
    the conv tutorial's derivation and leaves the GMM tutorial's EM derivation alone."""
    import npae.assignments.build as build_module
    monkeypatch.setattr(build_module, "_validate", lambda *a, **k: [])
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "spec.toml").write_text('title = "t"\n\n[[questions]]\nid = "q1"\n'
                                        'exercise = "npae.conv:maxpool2d_backward"\npoints = 1\n')
    build(tmp_path / "spec.toml", tmp_path / "out", log=lambda *a: None)
    tut = tmp_path / "out" / "student" / "tutorials"
    gmm = "07_gmm_and_generation.py"
    assert (tut / gmm).read_text() == (root / "tutorials" / gmm).read_text()
    assert "(M3)" in (root / "tutorials" / "11_convolutional.py").read_text()
    assert "(M3)" not in (tut / "11_convolutional.py").read_text()
