"""Where a student's code runs while it is graded: a user, a session, a folder and limits.

A submission is untrusted code. The grader (often root: Gradescope, Docker, CI) runs it in
a worker process (:mod:`.worker`) started like this:

* **as another user** when the grader is root: ``nobody`` by default, or ``--user NAME``
  (a name, or a bare numeric uid that needs no account). That user cannot read or write
  the autograder folder (key, reference, pristine build), the output folder or any
  submission folder, because the grader makes each of them private to its owner
  (``chmod go-rwx``) before grading, and checks it with a probe run as that user;
* **in a session of its own** (``setsid``), so that the whole process group can be
  killed; after each question the grader kills the session and, when it is root, every
  process of the sandbox user (``kill(-1, SIGKILL)`` sent *as* that user, repeated until
  none is left), so nothing a submission started outlives its grading — a double-forked
  ``setsid`` child included;
* **in a private temporary folder** (mode 0700, owned by the sandbox user) that holds
  the build under test and the worker script, which is also its working directory and
  ``HOME``, with a **scrubbed environment**: ``PATH``, ``HOME``, ``TMPDIR``, ``LANG``
  and one BLAS thread; no variable of the grader's (no ``PYTHONPATH``, no paths);
* **with resource limits** (``setrlimit``): CPU seconds, address space, open files,
  processes (as another user only: the limit counts all of a user's processes), the
  size of a written file, and no core dumps.

When the grader is not root (a teacher's laptop), the student's code runs as the
teacher's own user: session, folder, environment and limits still apply, but the code
could read anything the teacher can, the reference included, and a process that leaves
the session (``setsid`` twice) could outlive grading. The grader says so once per run
and in every results file (:data:`NOT_ISOLATED`).
"""
from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

NOT_ISOLATED = ("warning: submissions ran as your user; they could read the reference "
                "(grade as root, or with sudo and --user NAME, to isolate them)")

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


class SandboxError(RuntimeError):
    """The sandbox cannot be set up as asked; the message says what to change."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of the worker process (``setrlimit``)."""

    cpu_seconds: int = 600              # CPU time of the worker over all its calls
    memory_bytes: int = 4 << 30         # address space (NumPy and OpenBLAS need ~1 GB)
    open_files: int = 256
    processes: int = 64                 # per user: applied only as a user of its own
    file_bytes: int = 64 << 20          # the largest file it may write


@dataclass(frozen=True)
class Sandbox:
    """How student code runs: ``uid``/``gid`` None means as the grader's own user."""

    uid: int | None = None
    gid: int | None = None
    user: str = ""
    limits: Limits = Limits()

    @property
    def isolated(self):
        return self.uid is not None

    # -- the process ----------------------------------------------------------------------

    def environment(self, home):
        """The worker's whole environment: nothing of the grader's."""
        home = str(home)
        return {"PATH": SAFE_PATH, "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
                "MPLBACKEND": "Agg", "MPLCONFIGDIR": home, "OPENBLAS_NUM_THREADS": "1",
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def _preexec(self):
        lim = self.limits
        pairs = [(resource.RLIMIT_CPU, lim.cpu_seconds), (resource.RLIMIT_AS, lim.memory_bytes),
                 (resource.RLIMIT_NOFILE, lim.open_files),
                 (resource.RLIMIT_FSIZE, lim.file_bytes), (resource.RLIMIT_CORE, 0)]
        if self.isolated:
            pairs.append((resource.RLIMIT_NPROC, lim.processes))

        def apply():                       # runs in the child, after setsid and setuid
            os.umask(0o077)
            for which, value in pairs:
                _soft, hard = resource.getrlimit(which)
                value = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(which, (value, value))
        return apply

    def popen(self, argv, home, **kwargs):
        """Start ``argv`` in the sandbox (a new session, scrubbed env, limits, user)."""
        user = dict(user=self.uid, group=self.gid, extra_groups=[]) if self.isolated else {}
        return subprocess.Popen(argv, cwd=str(home), env=self.environment(home),
                                start_new_session=True, preexec_fn=self._preexec(),
                                **user, **kwargs)

    # -- the folder -----------------------------------------------------------------------

    def private_dir(self):
        """A new folder only the sandbox user (and root) can enter; the caller removes it."""
        path = Path(tempfile.mkdtemp(prefix="npae-grade-"))
        path.chmod(0o700)
        return path

    def hand_over(self, path):
        """Give the tree under ``path`` to the sandbox user (when it is another user)."""
        if not self.isolated:
            return
        for folder, dirs, files in os.walk(path):
            os.chown(folder, self.uid, self.gid)
            for name in files:
                os.chown(os.path.join(folder, name), self.uid, self.gid)

    def remove(self, path):
        """Remove a private folder; kill the user's processes first (they may hold it)."""
        self.kill_user()
        shutil.rmtree(path, ignore_errors=True)

    # -- killing --------------------------------------------------------------------------

    def kill_session(self, proc):
        """SIGKILL every process of the session ``proc`` leads, then reap ``proc``."""
        sid = proc.pid
        for pid in processes(session=sid):
            _kill(pid)
        _kill(proc.pid)
        proc.wait()

    def kill_user(self):
        """As root: kill every process of the sandbox user, until none is left."""
        if not self.isolated:
            return
        for _ in range(50):
            if not processes(uid=self.uid):
                return
            subprocess.run([sys.executable, "-I", "-S", "-c", _KILL_ALL], user=self.uid,
                           group=self.gid, extra_groups=[], env={"PATH": SAFE_PATH},
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, cwd="/", check=False)
            time.sleep(0.02)
        left = processes(uid=self.uid)
        if left:
            raise SandboxError(f"processes of sandbox user {self.user} survive SIGKILL: "
                               f"{left[:5]}; results are not written while they run")

    # -- checking ---------------------------------------------------------------------------

    def probe(self, paths):
        """Which of ``paths`` the sandbox user can read (files, folder listings) or write."""
        home = self.private_dir()
        try:
            self.hand_over(home)
            proc = self.popen([sys.executable, "-I", "-c", _PROBE,
                               json.dumps([str(p) for p in paths])], home,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
            out, err = proc.communicate(timeout=60)
        except PermissionError as exc:
            raise SandboxError(self._cannot_run(exc)) from None
        finally:
            self.remove(home)
        if proc.returncode != 0:
            raise SandboxError(self._cannot_run(err.decode(errors="replace").strip()
                                                or f"exit status {proc.returncode}"))
        return json.loads(out)

    def _cannot_run(self, why):
        closed = next((str(p) for p in reversed(Path(sys.executable).parents)
                       if p.is_dir() and not p.stat().st_mode & 0o001), None)
        where = f" ({closed} is not searchable by other users)" if closed else ""
        return (f"the sandbox user {self.user} cannot run this Python, {sys.executable}"
                f"{where}: {why}. Install Python and NumPy where every user can run them "
                f"(e.g. a virtual environment under /opt, as setup.sh does), or make the "
                f"folder searchable (chmod o+x)")


_KILL_ALL = """\
import os, signal
for _ in range(1000):
    try:
        os.kill(-1, signal.SIGKILL)   # every process of this user but this one
    except ProcessLookupError:
        break
"""

_PROBE = """\
import json, os, sys
found = []
for p in json.loads(sys.argv[1]):
    try:
        if os.path.isdir(p):
            os.listdir(p)
            found.append([p, "list"])
            probe = os.path.join(p, ".npae-probe")
            with open(probe, "w"):
                pass
            os.remove(probe)
            found.append([p, "write"])
        else:
            with open(p, "rb") as f:
                f.read(1)
            found.append([p, "read"])
            with open(p, "ab"):
                pass
            found.append([p, "write"])
    except OSError:
        pass
import numpy                          # the worker needs it: fail here, not later
print(json.dumps(found))
"""


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def processes(uid=None, session=None):
    """Live (not zombie) pids with real ``uid``, or in ``session``, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()     # after "pid (comm) "
        state, sid = fields[0], int(fields[3])
        if state == "Z":
            continue
        real_uid = int(next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1])
        if (uid is not None and real_uid == uid) or (session is not None and sid == session):
            found.append(int(entry))
    return found


def make_sandbox(user=None, limits=None):
    """The sandbox for this grader: as ``user`` (default ``nobody``) when root, else as
    the grader's own user; ``user`` without root is an error (it needs ``sudo``)."""
    limits = limits or Limits()
    root = os.geteuid() == 0
    if user is None:
        user = os.environ.get("NPAE_SANDBOX_USER") or ("nobody" if root else None)
        if user is None:
            return Sandbox(limits=limits)
    if not root:
        raise SandboxError(f"--user {user}: running submissions as another user needs root "
                           "(run the grader with sudo)")
    user = str(user)
    if user.isdigit():
        uid = gid = int(user)
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            pass                           # a uid of its own, with no account: fine
    else:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise SandboxError(f"--user {user}: no such user (give a name from /etc/passwd "
                               "or a numeric uid)") from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if uid == 0 or gid == 0:
        raise SandboxError(f"--user {user}: the sandbox user must not be root")
    return Sandbox(uid, gid, user, limits)


def lock(path):
    """Make ``path`` private to its owner (``chmod go-rwx``): nobody else may enter it."""
    path = Path(path)
    if path.exists():
        path.chmod(path.stat().st_mode & 0o700)
