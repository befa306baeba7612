"""Classroom assignments built from npae's own functions, graded by finite differences.

The idea: for a backward-pass exercise the oracle is only the *forward* pass. The
grader draws inputs per student (from a secret key), computes central differences of
the reference forward (npae.gradcheck.check_vjp) and compares them with what the
student's backward returns; no test holds the answer, and no answer can be hard-coded.

Modules, each one idea:

* :mod:`.catalog`   — the exercises: ``module:qualname``, equations, how to draw valid
  inputs, the reference forward, hidden cases and properties (no answers in it);
* :mod:`.mutants`   — known mistakes per exercise, each with a hint naming the equation
  (teacher side only: a mutant is the answer with one error planted);
* :mod:`.spec`      — the teacher's TOML spec;
* :mod:`.stubbing`  — replacing bodies by stubs, redacting equations, taking a
  submission's functions, and the syntax-tree leak check;
* :mod:`.build`     — ``npae assignment build``: student/, autograder/, solutions/;
* :mod:`.worker`    — the process that runs student code (imports only the student build);
* :mod:`.grading`   — the checks of one question and its score;
* :mod:`.gradescope` — ``results.json``, ``grades.csv`` and the Gradescope bundle;
* :mod:`.selfcheck` — ``npae check`` inside a student build;
* :mod:`.cli`       — the command-line entry points.

The teacher's guide is docs/teaching.md.
"""
