"""``student/homework.ipynb``: the assignment as a Jupyter notebook, for students who work
in one (as CS231n's assignments do).

The notebook holds

* the text of ASSIGNMENT.md;
* a setup cell: the student build's npae first on the path, ``%autoreload`` so that a
  saved edit is what the next check runs;
* per question: the equation to derive (the catalog's ``latex``, else its summary), a
  cell that prints where the stub is, its signature and docstring and the module
  docstring's "derive this" lines of the question, a cell that runs the public
  self-check of that question alone (``npae.assignments.selfcheck.run``) and prints its
  feedback, and a scratch cell with valid inputs of the question's kind;
* the public checks of every question at once, with the points each is worth;
* a cell that trains small models with the student's functions and draws what they make
  possible (a code histogram, reconstructions, samples); on stubs it prints "not
  implemented yet" instead of a traceback.

Nothing in it comes from the reference source: only ASSIGNMENT.md, the catalog's
summary, tags and ``latex`` (which state what to derive, never the result), and cells
that read the student's own (redacted) files when they run. The notebook runs top to
bottom in a kernel started in student/, which is where Jupyter starts it.
"""
from __future__ import annotations

from pathlib import Path

from ..notebooks import code_cell, dumps, markdown_cell, notebook
from .spec import module_path

NOTEBOOK = "homework.ipynb"

SETUP = '''\
# Run this cell first. Jupyter starts the kernel in this notebook's folder, the student
# build: its npae (the one you edit) goes first on the path. %autoreload re-imports a
# file you saved, so every check below runs your latest code.
%load_ext autoreload
%autoreload 2
import sys
from pathlib import Path

HERE = Path.cwd()
if not (HERE / "npae" / "assignments" / "assignment.json").is_file():
    raise RuntimeError(f"{HERE} is not the student/ folder of an assignment: open "
                       "homework.ipynb from the student/ folder (Jupyter starts the "
                       "kernel in the notebook's folder)")
sys.path.insert(0, str(HERE))
import npae
from npae.assignments.selfcheck import run as check

if Path(npae.__file__).resolve().parent != (HERE / "npae").resolve():
    print(f"npae was already imported from {Path(npae.__file__).parent}: restart the "
          "kernel (Kernel > Restart) and run this cell first")
else:
    print(f"npae from {HERE / 'npae'}")'''

USAGE = """\
## How to work in this notebook

Write each answer in the file the question names (open it from Jupyter's file browser,
or in any editor), save it, and run that question's check cell: it prints one line —
passed, not implemented yet, or what failed, with the gradient checker's diagnosis.
The scratch cells are yours. The last cells run every check and draw what your code
makes possible. Grading uses other random cases, drawn for you alone, and hidden
checks: passing here is necessary, not sufficient.

**Submit the `.py` files you edited**, not this notebook (see *Submit* above)."""


def _docstring_cell(question):
    ex = question.ex
    path = module_path(ex.module).as_posix()
    first = ex.qualname.split(".")[-1]
    tags = ", ".join(repr(t) for t in ex.tags)
    return f'''\
# {question.id}: where {ex.qualname} is, its docstring, and the lines marked "derive this"
import inspect
import textwrap
import {ex.module}

module = {ex.module}
fn = module.{ex.qualname}
print(f"{path}, line {{inspect.getsourcelines(fn)[1]}} ({{inspect.getsourcefile(fn)}})\\n")
print(f"def {first}{{inspect.signature(fn)}}:")
print(textwrap.indent('"""' + (inspect.getdoc(fn) or "") + '"""', "    "))
tags = ({tags}{"," if len(ex.tags) == 1 else ""})
for block in (module.__doc__ or "").split("\\n\\n"):
    if "derive this" in block and any(f"({{t}})" in block for t in tags):
        print("\\nfrom the docstring of {path}:\\n" + block)'''


def _check_cell(question):
    return (f"# {question.id}: the public checks of this question alone (save your file "
            f"first)\nstatus = check([{question.id!r}])")


def _scratch_cell(question):
    ex = question.ex
    return f'''\
# Scratch: try your code here. Valid random inputs of {question.id}'s kind (the catalog's
# first case), by name; e.g. call module.{ex.qualname.split(".")[0]} on them.
import numpy as np
from npae.assignments.catalog import get_exercise

inputs = get_exercise({ex.id!r}).cases[0].draw(np.random.default_rng(0))
{{name: getattr(value, "shape", value) for name, value in inputs.items()}}'''


def _question_md(question):
    ex = question.ex
    path = module_path(ex.module).as_posix()
    lines = [f"## {question.id}: `{ex.qualname}` ({question.points:g} points)", "",
             f"In `{path}`. Derive {ex.summary}:", ""]
    if ex.latex:
        lines += [f"$$ {ex.latex} $$", ""]
    lines += [f"Equations {ex.equations} of `{path}`; the ones to derive are marked "
              "\"derive this\" there (printed by the next cell).", "",
              f"Checked: {ex.checked}."]
    return "\n".join(lines)


def _summary_cell(assignment):
    points = {q.id: q.points for q in assignment.questions}
    return f'''\
# Every question's public checks, with the points each is worth when they all pass
POINTS = {points!r}
passed = {{qid: check([qid], out=lambda line: None) == 0 for qid in POINTS}}
for qid, worth in POINTS.items():
    mark = "passes every public check" if passed[qid] else "not yet: run its check above"
    print(f"{{qid}}: {{worth if passed[qid] else 0:g}} / {{worth:g}} points ({{mark}})")
earned = sum(worth for qid, worth in POINTS.items() if passed[qid])
print(f"total on the public checks: {{earned:g}} / {{sum(POINTS.values()):g}} points")'''


# -- the drawing at the end: one demo per family of the assignment's exercises -------------

_DEMOS = {
    "kl": '''\
    # the KL gradient's effect on the code histogram: a plain and a KL-sparse autoencoder
    plain = Autoencoder((64,), activation="sigmoid", **FIT)
    sparse = SparseAutoencoder((64,), sparsity="kl", sparsity_weight=3.0,
                               sparsity_target=0.05, **FIT)
    codes = {"plain": plain.fit(X).transform(X_test),
             "KL-sparse, ρ = 0.05": sparse.fit(X).transform(X_test)}
    inline.show(plotting.histogram(list(codes.values()), bins=40, labels=list(codes),
                                   logy=True, xlabel="code value h",
                                   title="code activations on test digits"))
    print("mean activation:", {k: round(float(v.mean()), 3) for k, v in codes.items()})
''',
    "l1": '''\
    # the L1 gradient's effect on the code histogram: a plain and an L1-sparse autoencoder
    plain = Autoencoder((64,), activation="relu", **FIT)
    sparse = SparseAutoencoder((64,), activation="relu", sparsity="l1", sparsity_weight=0.05,
                               **FIT)
    codes = {"plain": plain.fit(X).transform(X_test),
             "L1-sparse": sparse.fit(X).transform(X_test)}
    inline.show(plotting.histogram(list(codes.values()), bins=40, labels=list(codes),
                                   logy=True, xlabel="code value h",
                                   title="code activations on test digits"))
''',
    "contractive": '''\
    # a contractive autoencoder's reconstructions
    cae = ContractiveAutoencoder((64,), **FIT).fit(X)
    inline.show(plotting.reconstructions(X_test[:10], cae.reconstruct(X_test[:10]),
                                         title="contractive autoencoder"))
''',
    "vae": '''\
    # a VAE: reconstructions of test digits, and samples from its prior
    vae = VAE((128,), latent_dim=8, **FIT).fit(X)
    inline.show(plotting.reconstructions(X_test[:10], vae.reconstruct(X_test[:10]),
                                         title="VAE reconstructions"))
    inline.show(plotting.image_grid(vae.sample(32, random_state=0), ncols=8,
                                    title="VAE samples from the prior"))
''',
    "gmm": '''\
    # a Gaussian mixture fitted by EM on three 2-D clusters
    rng = np.random.default_rng(0)
    X2 = np.concatenate([rng.normal(c, 0.6, (200, 2)) for c in ([0, 0], [4, 1], [1, 4])])
    g = GaussianMixture(3, random_state=0).fit(X2)
    inline.show(plotting.ellipses_2d(X2, g.means_, g.covariances_, labels=g.predict(X2),
                                     title="EM on three clusters"))
''',
    "autoencoder": '''\
    # an autoencoder's reconstructions of test digits
    ae = Autoencoder((64,), {kwargs}**FIT).fit(X)
    inline.show(plotting.reconstructions(X_test[:10], ae.reconstruct(X_test[:10]),
                                         title="autoencoder"))
''',
}
_NOISE = {"GaussianNoise": "gaussian", "MaskingNoise": "masking",
          "SaltAndPepperNoise": "salt_and_pepper"}
_DENOISING = '''\
    # a denoising autoencoder ({noise} noise): corrupted, denoised and clean test digits
    dae = DenoisingAutoencoder((64,), noise="{noise}", noise_level=0.3, **FIT).fit(X)
    Xn = dae.sample_noise(X_test[:10], np.random.default_rng(0)).apply(X_test[:10])
    inline.show(plotting.image_rows([("corrupted", np.clip(Xn, 0, 1)),
                                     ("denoised", dae.reconstruct(Xn)),
                                     ("clean", X_test[:10])], title="{noise} noise"))
'''
# the plain autoencoder that exercises each remaining function
_AE_KWARGS = {"npae.layers:Tanh.backward": 'activation="tanh", ',
              "npae.layers:Softplus.backward": 'activation="softplus", ',
              "npae.losses:GaussianLoss.grad": 'output="gaussian", ',
              "npae.penalties:weight_decay_grad": "weight_decay=1e-4, ",
              "npae.network:backprop_layers": "tied_weights=True, "}


def _demo(exercise_id):
    """``(key, source)`` of the demo that uses exercise ``exercise_id``."""
    module, qualname = exercise_id.split(":")
    if exercise_id == "npae.penalties:kl_sparsity_grad":
        return "kl", _DEMOS["kl"]
    if exercise_id == "npae.penalties:l1_activity_grad":
        return "l1", _DEMOS["l1"]
    if exercise_id == "npae.penalties:contractive_grad":
        return "contractive", _DEMOS["contractive"]
    if module == "npae.models.vae":
        return "vae", _DEMOS["vae"]
    if module == "npae.gmm" or exercise_id == "npae.layers:logsumexp":
        return "gmm", _DEMOS["gmm"]
    if module == "npae.noise":
        noise = _NOISE.get(qualname.split(".")[0], "masking")
        return f"denoising-{noise}", _DENOISING.format(noise=noise)
    kwargs = _AE_KWARGS.get(exercise_id, "")
    return f"autoencoder-{kwargs}", _DEMOS["autoencoder"].format(kwargs=kwargs)


def _finale_cell(assignment):
    demos = {}
    for q in assignment.questions:
        key, source = _demo(q.exercise)
        demos.setdefault(key, source)
    body = "\n".join(demos.values())
    return f'''\
# What your code makes possible: small models trained with YOUR functions (seconds each).
# Until every question above is implemented this prints "not implemented yet".
import numpy as np
from npae import (VAE, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder,
                  GaussianMixture, SparseAutoencoder, datasets, inline, plotting)

X, _, X_test, _, source = datasets.load_digits(2000, 200)
print(f"data: {{source}}")
FIT = dict(epochs=5, learning_rate=0.01, random_state=0, verbose=False)   # a few seconds
try:
{body}except NotImplementedError as exc:
    print(f"not implemented yet ({{exc}}): finish the questions above, then run this "
          "cell again")'''


# -- the notebook ------------------------------------------------------------------------------

def homework_notebook(assignment, student_dir):
    """The homework notebook of ``assignment`` for the build in ``student_dir`` (which
    holds ASSIGNMENT.md), as a JSON-able nbformat 4.5 dict."""
    text = (Path(student_dir) / "ASSIGNMENT.md").read_text(encoding="utf-8").strip()
    cells = [markdown_cell(text, "assignment"), markdown_cell(USAGE, "usage"),
             code_cell(SETUP, "setup")]
    for i, q in enumerate(assignment.questions, 1):    # cell ids: letters, digits, - and _
        cells += [markdown_cell(_question_md(q), f"question{i}-derive"),
                  code_cell(_docstring_cell(q), f"question{i}-stub"),
                  code_cell(_check_cell(q), f"question{i}-check"),
                  code_cell(_scratch_cell(q), f"question{i}-scratch")]
    cells += [markdown_cell("## All questions\n\nThe public checks of every question; "
                            "grading uses other random cases and hidden checks.", "all-md"),
              code_cell(_summary_cell(assignment), "all-check"),
              markdown_cell("## What your code makes possible", "finale-md"),
              code_cell(_finale_cell(assignment), "finale")]
    return notebook(cells)


def write_homework_notebook(assignment, student_dir):
    """Write ``student_dir/homework.ipynb``; returns its path."""
    path = Path(student_dir) / NOTEBOOK
    path.write_text(dumps(homework_notebook(assignment, student_dir)), encoding="utf-8")
    return path
