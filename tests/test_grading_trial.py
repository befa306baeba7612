"""The teacher trial of issue 18, re-run against a real build: six questions, 22 points.

Submissions: the reference, untouched stubs, zeros, constants, finite differences of
npae's own forward, an in-place edit, cheaters that read or import the reference, a
tamperer that rewrites another student's results, the reference and the key, and a late
writer that double-forks a setsid child to rewrite results.json after grading. Then a
regrade into the same output folder, the class summary, and Python 3.10.

The attacks on isolation need the grader to be root (then student code runs as another
user); as any other user they are skipped, since the grader says then, in every results
file, that submissions ran as the teacher's user and could read the reference.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from npae.assignments import stubbing
from npae.assignments.build import build
from npae.assignments.gradescope import grade_all
from npae.assignments.sandbox import NOT_ISOLATED, make_sandbox, processes
from assignment_specs import TRIAL_SPEC as SPEC

pytestmark = pytest.mark.slow          # builds and grades a whole assignment (a minute)

FILES = {"kl_sparsity_grad": "npae/penalties.py", "contractive_grad": "npae/penalties.py",
         "reparameterize_backward": "npae/models/vae.py",
         "gaussian_kl_grad": "npae/models/vae.py", "MaskingNoise.backward": "npae/noise.py",
         "GaussianMixture._e_step": "npae/gmm.py"}
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="isolation needs a root grader (as any "
                                                 "other user it is not claimed)")


@pytest.fixture(scope="module")
def hw(tmp_path_factory, grading_sandbox):
    base = tmp_path_factory.mktemp("trial")
    (base / "spec.toml").write_text(SPEC)
    build(base / "spec.toml", base / "hw", key="cd" * 32, log=lambda *a: None)
    return base / "hw"


def submission(hw, where, functions):
    """A folder holding the student files with ``functions`` ({qualname: source}) put in;
    every other exercise stays a stub."""
    where.mkdir(parents=True)
    texts = {}
    for qualname, source in functions.items():
        rel = FILES[qualname]
        text = texts.get(rel) or (hw / "student" / rel).read_text()
        texts[rel] = stubbing.put_function(text, qualname, textwrap.dedent(source),
                                           name=qualname.split(".")[-1])
    for rel, text in texts.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_text(text)
    return where


def results(out, name):
    return json.loads((out / name / "results.json").read_text())


def by_question(res):
    return {t["name"].split()[0]: t for t in res["tests"]}


ZEROS = {
    "kl_sparsity_grad": "def kl_sparsity_grad(h, rho, beta):\n    return np.zeros_like(h)\n",
    "contractive_grad": "def contractive_grad(h, W, lam):\n"
                        "    return np.zeros_like(h), np.zeros_like(W)\n",
    "reparameterize_backward": "def reparameterize_backward(dz, std, eps):\n"
                               "    return np.zeros_like(dz), np.zeros_like(dz)\n",
    "gaussian_kl_grad": "def gaussian_kl_grad(mu, logvar):\n"
                        "    return np.zeros_like(mu), np.zeros_like(mu)\n",
    "MaskingNoise.backward": "def backward(self, dX_tilde):\n    return np.zeros_like(dX_tilde)\n",
    "GaussianMixture._e_step": "def _e_step(self, X, weights, means, chol):\n"
                               "    return np.zeros((X.shape[0], len(weights))), 0.0\n",
}
CONSTANTS = {k: v.replace("np.zeros_like(", "0.05 + np.zeros_like(") for k, v in ZEROS.items()}
CONSTANTS["GaussianMixture._e_step"] = (
    "def _e_step(self, X, weights, means, chol):\n"
    "    K = len(weights)\n"
    "    return np.full((X.shape[0], K), -np.log(K)), -1.0\n")       # uniform γ
FINITE_DIFFERENCES = {
    "kl_sparsity_grad": """\
        def kl_sparsity_grad(h, rho, beta):
            g, e = np.zeros_like(h), 1e-5
            for i in np.ndindex(*h.shape):
                hp, hm = h.copy(), h.copy()
                hp[i] += e
                hm[i] -= e
                g[i] = (kl_sparsity(hp, rho, beta) - kl_sparsity(hm, rho, beta)) / (2 * e)
            return g
        """,
    "contractive_grad": """\
        def contractive_grad(h, W, lam):
            dh, dW, e = np.zeros_like(h), np.zeros_like(W), 1e-5
            for i in np.ndindex(*h.shape):
                hp, hm = h.copy(), h.copy()
                hp[i] += e
                hm[i] -= e
                dh[i] = (contractive(hp, W, lam) - contractive(hm, W, lam)) / (2 * e)
            for i in np.ndindex(*W.shape):
                Wp, Wm = W.copy(), W.copy()
                Wp[i] += e
                Wm[i] -= e
                dW[i] = (contractive(h, Wp, lam) - contractive(h, Wm, lam)) / (2 * e)
            return dh, dW
        """,
}
IN_PLACE = {"MaskingNoise.backward": """\
    def backward(self, dX_tilde):
        dX_tilde *= self.mask
        return dX_tilde
    """}


def test_the_trial_scores_what_each_answer_deserves(hw, tmp_path):
    auto = hw / "autograder"
    subs = [shutil.copytree(hw / "solutions", tmp_path / "reference"),
            submission(hw, tmp_path / "untouched", {}),
            submission(hw, tmp_path / "zeros", ZEROS),
            submission(hw, tmp_path / "constants", CONSTANTS),
            submission(hw, tmp_path / "finite_differences", FINITE_DIFFERENCES),
            submission(hw, tmp_path / "in_place", IN_PLACE)]
    out = tmp_path / "graded"
    grades = {g.name: g for g in grade_all(auto, subs, out, log=lambda *a: None,
                                           warn=lambda *a: None)}
    assert grades["reference"].score == 22
    assert [t["score"] for t in results(out, "reference")["tests"]] == [5, 4, 3, 3, 3, 4]
    for name in ("untouched", "zeros", "constants"):
        assert grades[name].score == 0, (name, [(q, g.score) for q, g in
                                                grades[name].questions.items()])
    for t in results(out, "zeros")["tests"]:
        assert "wrong on every random case" in t["output"], t["name"]
    fd = by_question(results(out, "finite_differences"))
    for q, forward in (("q1", "kl_sparsity"), ("q2", "contractive")):
        assert fd[q]["score"] == 0
        assert f"npae.penalties.{forward} was called" in fd[q]["output"]
        assert "finite differences" in fd[q]["output"]
    q5 = by_question(results(out, "in_place"))["q5"]
    assert q5["score"] == 3 * 0.75 and "argument dX_tilde in place" in q5["output"]
    csv = (out / "grades.csv").read_text().splitlines()
    assert csv[0] == "submission,q1,q2,q3,q4,q5,q6,total" and len(csv) == 1 + len(subs)
    summary = (out / "summary.md").read_text()
    assert "6 submissions" in summary and (out / "summary.png").stat().st_size > 1000
    assert "× finite differences or a loop over entries" in summary
    assert "× not implemented" in summary
    for res in map(lambda s: results(out, s.name), subs):
        if not ROOT:
            assert NOT_ISOLATED in res["output"]
        for t in res["tests"]:
            assert "Traceback" not in t["output"]


def test_a_regrade_updates_one_row_and_keeps_the_others(hw, tmp_path):
    auto, out = hw / "autograder", tmp_path / "graded"
    alice = submission(hw, tmp_path / "v1" / "alice", {})
    bob = shutil.copytree(hw / "solutions", tmp_path / "v1" / "bob")
    grade_all(auto, [alice, bob], out, log=lambda *a: None, warn=lambda *a: None)
    rows = (out / "grades.csv").read_text().splitlines()
    assert "alice,0,0,0,0,0,0,0" in rows and "bob,5,4,3,3,3,4,22" in rows
    fixed = shutil.copytree(hw / "solutions", tmp_path / "v2" / "alice")
    grade_all(auto, [fixed], out, name="alice", log=lambda *a: None, warn=lambda *a: None)
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[1:] == ["alice,5,4,3,3,3,4,22", "bob,5,4,3,3,3,4,22"]
    assert "2 submissions" in (out / "summary.md").read_text()


def _attack(hw, tmp_path, name, source, extra=None):
    return submission(hw, tmp_path / name, {"kl_sparsity_grad": source, **(extra or {})})


@needs_root
def test_cheaters_and_a_tamperer_get_nothing_and_change_nothing(hw, tmp_path):
    auto = hw / "autograder"
    ref_pen = auto / "reference" / "npae" / "penalties.py"
    ref_noise = auto / "reference" / "npae" / "noise.py"
    out = tmp_path / "graded"
    victim = shutil.copytree(hw / "solutions", tmp_path / "victim")
    grade_all(auto, [victim], out, log=lambda *a: None, warn=lambda *a: None)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (out / "victim" / "results.json", ref_noise, auto / "key")}
    reads = _attack(hw, tmp_path, "reads", f"""\
        def kl_sparsity_grad(h, rho, beta):
            ns = {{}}
            exec(open({str(ref_pen)!r}).read(), ns)
            return ns["kl_sparsity_grad"](h, rho, beta)
        """)
    imports = _attack(hw, tmp_path, "imports", f"""\
        def kl_sparsity_grad(h, rho, beta):
            import importlib.util
            spec = importlib.util.spec_from_file_location("ref", {str(ref_pen)!r})
            ref = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(ref)
            return ref.kl_sparsity_grad(h, rho, beta)
        """)
    tamper = _attack(hw, tmp_path, "tamperer", f"""\
        def kl_sparsity_grad(h, rho, beta):
            import os
            for path, text in (({str(out / 'victim' / 'results.json')!r}, '{{"score": 0}}'),
                               ({str(ref_noise)!r}, "\\nRIGGED = True\\n")):
                try:
                    with open(path, "a" if path.endswith(".py") else "w") as f:
                        f.write(text)
                except OSError:
                    pass
            try:
                key = open({str(auto / 'key')!r}).read()
            except OSError:
                key = ""
            os.makedirs(os.path.expanduser("~/loot"), exist_ok=True)
            raise RuntimeError("key: " + key[:8])
        """)
    grade_all(auto, [reads, imports, tamper], out, log=lambda *a: None, warn=lambda *a: None)
    for name in ("reads", "imports"):
        q1 = by_question(results(out, name))["q1"]
        assert q1["score"] == 0 and "PermissionError" in q1["output"], q1["output"]
    q1 = by_question(results(out, "tamperer"))["q1"]
    assert "RuntimeError: key: " in q1["output"]                # it ran, and then:
    assert "key: " + "cd" * 4 not in q1["output"]                # the key was not read
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before}
    assert after == before                                    # nothing was changed
    assert results(out, "victim")["score"] == 22
    rows = (out / "grades.csv").read_text().splitlines()
    assert "victim,5,4,3,3,3,4,22" in rows


@needs_root
def test_a_late_writer_does_not_outlive_grading(hw, tmp_path):
    """A double-forked setsid child that sleeps, then rewrites results.json and leaves a
    mark in a folder every user can write: it is killed, and nothing changes."""
    auto = hw / "autograder"
    gradescope = tmp_path / "results"
    results_json = gradescope / "results.json"
    mark = Path("/tmp") / f"npae-late-writer-{uuid.uuid4().hex}"
    late = _attack(hw, tmp_path, "late", f"""\
        def kl_sparsity_grad(h, rho, beta):
            import os, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(1.5)
                    open({str(mark)!r}, "w").write("alive")
                    with open({str(results_json)!r}, "w") as f:
                        f.write('{{"score": 22}}')
                    os._exit(0)
                os._exit(0)
            return np.zeros_like(h)
        """)
    sandbox = make_sandbox()
    grade_all(auto, [late], tmp_path / "graded", results_json_path=results_json,
              log=lambda *a: None, warn=lambda *a: None)
    written = results_json.read_text()
    time.sleep(3.0)
    assert not mark.exists(), "the late writer was still alive after grading"
    assert results_json.read_text() == written and json.loads(written)["score"] == 0
    assert processes(uid=sandbox.uid) == []


@needs_root
def test_the_folders_are_private_and_the_probe_says_what_it_could_read(hw, tmp_path):
    """Locked: the autograder folder, the output, the submissions; the sandbox user's
    probe reads none of them. The grader's own npae (this checkout) is readable here, and
    the grader says so."""
    auto = hw / "autograder"
    sub = shutil.copytree(hw / "solutions", tmp_path / "s")
    warnings = []
    grade_all(auto, [sub], tmp_path / "graded", log=lambda *a: None, warn=warnings.append)
    for path in (auto, tmp_path / "graded", sub):
        assert path.stat().st_mode & 0o077 == 0, path
    sandbox = make_sandbox()
    assert sandbox.probe([auto / "key", auto / "reference", tmp_path / "graded", sub]) == []
    npae_dir = Path(stubbing.__file__).resolve().parents[1]
    if sandbox.probe([npae_dir]):
        assert any(str(npae_dir) in w and "readable" in w for w in warnings), warnings


def _python310():
    for candidate in sorted(Path("/root/.pyenv/versions").glob("3.10*/bin/python3.10")) + \
            [Path("/usr/bin/python3.10"), Path("/usr/local/bin/python3.10")]:
        try:
            ok = subprocess.run([str(candidate), "-c", "import numpy"],
                                capture_output=True, timeout=60).returncode == 0
        except OSError:
            continue
        if ok:
            return str(candidate)
    return None


def test_python_310_checks_grades_and_explains_the_spec(hw, tmp_path):
    """Gradescope's common image ships Python 3.10: `npae check`, grading and the build's
    message about TOML, on a real 3.10 interpreter."""
    py = _python310()
    if py is None:
        pytest.skip("no Python 3.10 with NumPy on this machine (.ci/run installs one)")
    repo = Path(stubbing.__file__).resolve().parents[2]
    compiled = subprocess.run([py, "-m", "compileall", "-q", str(repo / "npae")],
                              capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    student = shutil.copytree(hw / "student", tmp_path / "student")
    r = subprocess.run([py, "-m", "npae", "check", "q1"], cwd=student, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr, r.stderr
    assert r.stdout.startswith("q1 kl_sparsity_grad: not implemented yet")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)}
    sub = shutil.copytree(hw / "solutions", tmp_path / "reference")
    r = subprocess.run([py, "-m", "npae", "assignment", "grade", str(hw / "autograder"),
                        str(sub), "--out", str(tmp_path / "graded")], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert results(tmp_path / "graded", "reference")["score"] == 22
    r = subprocess.run([py, "-c", "import tomli"], capture_output=True, env=env)
    if r.returncode != 0:                          # no tomli: the build explains
        (tmp_path / "spec.toml").write_text(SPEC)
        r = subprocess.run([py, "-m", "npae", "assignment", "build", str(tmp_path / "spec.toml"),
                            "--out", str(tmp_path / "hw310")], env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert "needs Python 3.11 or the tomli package" in r.stderr


def test_the_gradescope_bundle_runs_as_gradescope_runs_it(hw, tmp_path):
    """autograder.zip unpacked into <root>/source (exec bits kept), a submission and its
    metadata beside it, run_autograder run: results.json has the full marks, and (as
    root) the source folder is private."""
    import zipfile
    ag = tmp_path / "autograder"
    (ag / "submission").mkdir(parents=True)
    with zipfile.ZipFile(hw / "autograder.zip") as z:
        names = z.namelist()
        assert "setup.sh" in names and "run_autograder" in names and "key" in names
        for info in z.infolist():
            z.extract(info, ag / "source")
            os.chmod(ag / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    shutil.copytree(hw / "solutions" / "npae", ag / "submission" / "npae")
    (ag / "submission_metadata.json").write_text(json.dumps(
        {"id": 7, "users": [{"email": "ada@example.edu"}]}))
    import tempfile                                   # this Python stands in for setup.sh's
    venv = Path(tempfile.mkdtemp(prefix="npae-venv-")) / "bin"    # venv, where the sandbox
    venv.mkdir()                                      # user can run it (not in pytest's 0700
    venv.parent.chmod(0o755)                          # tmp_path)
    (venv / "python").symlink_to(sys.executable)
    env = {"PATH": "/usr/bin:/bin", "NPAE_AUTOGRADER_ROOT": str(ag),
           "NPAE_VENV": str(venv.parent)}
    try:
        r = subprocess.run(["bash", str(ag / "source" / "run_autograder")], env=env,
                           capture_output=True, text=True, timeout=600, cwd=tmp_path)
    finally:
        shutil.rmtree(venv.parent)
    assert r.returncode == 0, r.stderr
    res = json.loads((ag / "results" / "results.json").read_text())
    assert res["score"] == 22 and "ada@example.edu: 22/22" in r.stdout
    assert "readable by the sandbox" not in r.stderr      # it graded with its own reference
    if ROOT:
        assert (ag / "source").stat().st_mode & 0o077 == 0
