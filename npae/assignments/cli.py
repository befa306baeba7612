"""``npae assignment {list,build,grade}`` and ``npae check``; registered by npae.cli.

Heavy imports happen inside the commands, so ``npae --help`` stays fast.
"""
from __future__ import annotations

import sys


def add_parsers(sub):
    """Add the ``assignment`` and ``check`` subcommands to npae's subparsers."""
    a = sub.add_parser("assignment", help="classroom assignments from npae's own functions "
                                          "(docs/teaching.md)")
    asub = a.add_subparsers(dest="assignment_command", required=True,
                            parser_class=type(a))
    asub.add_parser("list", help="the exercise catalog: id, equations, what is checked")
    b = asub.add_parser("build", help="build student/, autograder/ and solutions/ from a spec")
    b.add_argument("spec", help="the assignment's TOML spec")
    b.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    b.add_argument("--key", default=None,
                   help="secret key for per-student cases, hex (default: a new random one)")
    g = asub.add_parser("grade", help="grade submission folders; writes OUT/<name>/results.json "
                                      "and OUT/grades.csv")
    g.add_argument("autograder", help="the autograder/ folder of a build")
    g.add_argument("submissions", nargs="+", help="folders of edited files, e.g. sub/npae/"
                                                  "penalties.py")
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--results-json", default=None,
                   help="also write the (single) submission's results.json here (Gradescope)")
    g.add_argument("--name", default=None,
                   help="the student's name for the case seeds (one submission; default: "
                        "the folder name)")
    g.add_argument("--user", default=None,
                   help="run submissions as this user (a name or a numeric uid); needs "
                        "root, whose default is nobody (docs/teaching.md, 'Isolation')")
    c = sub.add_parser("check", help="inside a student build: the public checks of the "
                                     "assignment's questions")
    c.add_argument("questions", nargs="*", help="question ids (default: all)")


def cmd_assignment(args):
    if args.assignment_command == "list":
        return cmd_list(args)
    if args.assignment_command == "build":
        return cmd_build(args)
    return cmd_grade(args)


def cmd_list(args):
    from .catalog import CATALOG
    for ex in CATALOG.values():
        print(f"{ex.id}\n    equations: {ex.equations}\n    derive: {ex.summary}\n"
              f"    checked: {ex.checked}")
    return 0


def _teacher_only(name):
    module = f"npae.assignments.{name}"
    try:
        return __import__(module, fromlist=["x"])
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise ValueError("this is a student build of npae: building and grading are not "
                         "part of it") from None


def cmd_build(args):
    build = _teacher_only("build")
    try:
        build.build(args.spec, args.out, key=args.key)
    except build.BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_grade(args):
    gradescope = _teacher_only("gradescope")
    if args.name and len(args.submissions) != 1:
        raise ValueError("--name names one submission; got several")
    if args.results_json and len(args.submissions) != 1:
        raise ValueError("--results-json is for one submission; got several")
    from .sandbox import SandboxError
    try:
        gradescope.grade_all(args.autograder, args.submissions, args.out,
                             results_json_path=args.results_json, name=args.name,
                             user=args.user)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_check(args):
    from .selfcheck import run
    return run(args.questions)
