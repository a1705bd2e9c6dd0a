"""Shared helpers of the benchmarks: temporary roots, process-tree peak RSS, worker subprocesses, tables.

Every measured run happens in a fresh worker subprocess (``python bench/<script>.py --worker TASK``)
so each one pays its own imports and its peak memory is its own. The parent samples the resident set
of the worker **and all its descendants** from ``/proc`` every 0.2 s (sum of ``statm`` resident pages
of every live process of the tree; shared pages are counted once per process, so this is an upper
bound) and reads the worker's JSON result from a file. Nothing here runs at import time.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 2**20
GIB = 2**30

Params = dict[str, Any]
WorkerFn = Callable[[Params], dict[str, Any]]


# --------------------------------------------------------------------------- process-tree memory


def _children_map() -> dict[int, list[int]]:
    """ppid -> child pids, from ``/proc/<pid>/stat`` of every live process."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: split after the last ')'
        rest = stat[stat.rfind(b")") + 2 :].split()
        if len(rest) > 1:
            kids.setdefault(int(rest[1]), []).append(int(entry.name))
    return kids


def tree_pids(root: int) -> list[int]:
    """``root`` and every live descendant."""
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def rss_bytes(pid: int) -> int:
    """Resident set of one process in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


class TreeRSSSampler:
    """Samples the summed RSS of a process tree in a daemon thread; ``peak`` is the largest sum seen,
    ``peak_single`` the largest single process."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.peak_single = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes = [rss_bytes(p) for p in tree_pids(self.pid)]
            self.peak = max(self.peak, sum(sizes))
            self.peak_single = max([self.peak_single, *sizes])
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeRSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of every child it has reaped so far."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def loadavg() -> float:
    """The 1-minute load average (other work on the machine shows here)."""
    return round(os.getloadavg()[0], 2)


# --------------------------------------------------------------------------- worker subprocesses


@dataclass
class WorkerRun:
    """What one worker subprocess did: its JSON result, wall time and memory."""

    task: str
    result: dict[str, Any]
    wall_s: float
    peak_rss_bytes: int
    peak_single_rss_bytes: int
    maxrss_self_bytes: int = 0
    cpu_s: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def peak_rss_mib(self) -> float:
        """Peak summed RSS of the process tree, MiB."""
        return self.peak_rss_bytes / MIB


class WorkerError(RuntimeError):
    """A worker subprocess failed; the message holds the tail of its output."""


def run_worker(
    script: Path, task: str, params: Params, env: Mapping[str, str], *, timeout: float = 7200.0
) -> WorkerRun:
    """Run ``python script --worker task`` with ``params`` (JSON) and ``env``; sample its process tree's
    RSS; return its result. Raises ``WorkerError`` with the output tail if it exits non-zero."""
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        pfile, rfile, lfile = Path(tmp) / "params.json", Path(tmp) / "result.json", Path(tmp) / "log.txt"
        pfile.write_text(json.dumps(params))
        cmd = [sys.executable, str(script), "--worker", task, "--params", str(pfile), "--result", str(rfile)]
        import resource

        load_before = loadavg()
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0 = kids.ru_utime + kids.ru_stime
        with open(lfile, "wb") as log:
            t = time.perf_counter()
            proc = subprocess.Popen(cmd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_DIR)
            with TreeRSSSampler(proc.pid) as sampler:
                try:
                    code = proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    code = -9
            wall = time.perf_counter() - t
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = kids.ru_utime + kids.ru_stime - cpu0
        text = lfile.read_text(errors="replace")
        if code != 0:
            tail = "\n".join(text.splitlines()[-40:])
            raise WorkerError(f"{script.name} --worker {task} exited {code}:\n{tail}")
        result = json.loads(rfile.read_text())
    return WorkerRun(
        task=task,
        result=result,
        wall_s=wall,
        peak_rss_bytes=sampler.peak,
        peak_single_rss_bytes=sampler.peak_single,
        maxrss_self_bytes=int(result.get("_maxrss_self_kib", 0)) * 1024,
        cpu_s=round(cpu, 3),
        load_before=load_before,
        load_after=loadavg(),
        log=text,
    )


def worker_main(tasks: Mapping[str, WorkerFn], argv: Sequence[str]) -> bool:
    """If ``argv`` is a worker invocation (``--worker TASK --params F --result F``), run the task, write
    its result and return True; otherwise return False (the caller runs its normal ``main``)."""
    if "--worker" not in argv:
        return False
    args = list(argv)
    task = args[args.index("--worker") + 1]
    params = json.loads(Path(args[args.index("--params") + 1]).read_text())
    out = Path(args[args.index("--result") + 1])
    import resource

    result = tasks[task](params)
    result["_maxrss_self_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["_maxrss_children_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out.write_text(json.dumps(result, default=str))
    return True


# --------------------------------------------------------------------------- environments


def bench_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker: the current one with the warehouse, CHURN_HOME and the pachlet root
    inside ``tmp`` (never ./.churn or ./.pachlet), the venv's bin first on PATH."""
    env = dict(os.environ)
    env.pop("CHURN_WAREHOUSE_URL", None)
    env.pop("PACHD_ADDRESS", None)
    env["CHURN_HOME"] = str(tmp / "churn-home")
    env["CHURN_WAREHOUSE_DIR"] = str(tmp / "warehouse")
    env["PACHLET_ROOT"] = str(tmp / "pachlet")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PACHYDERM_SQL_PASSWORD", "unused-by-the-embedded-warehouse")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@contextmanager
def temp_dir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary directory (under ``$TMPDIR``), removed afterwards unless ``keep``."""
    if keep:
        yield Path(tempfile.mkdtemp(prefix=prefix))
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def render_specs(out_dir: Path, shards: int | None = None) -> Path:
    """Render the local target's specs into ``out_dir`` (``--tla shards=N`` when given)."""
    cmd = [str(Path(sys.executable).parent / "churn"), "render", "--target", "local", "--out", str(out_dir)]
    if shards is not None:
        cmd += ["--tla", f"shards={shards}"]
    subprocess.run(cmd, check=True, cwd=PROJECT_DIR, capture_output=True, text=True)
    return out_dir


def load_specs(spec_dir: Path) -> list[dict[str, Any]]:
    """The JSON specs of a directory, each after the pipelines whose output it reads."""
    specs = {}
    for path in sorted(spec_dir.glob("*.json")):
        spec = json.loads(path.read_text())
        specs[spec["pipeline"]["name"]] = spec

    def repos(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("pfs"), dict):
                yield node["pfs"]["repo"]
            for kind in ("cross", "union", "join", "group"):
                for child in node.get(kind) or []:
                    yield from repos(child)

    order: list[dict[str, Any]] = []
    done: set[str] = set()
    while len(order) < len(specs):
        ready = sorted(
            n
            for n, s in specs.items()
            if n not in done and all(r in done or r not in specs for r in repos(s.get("input")))
        )
        if not ready:
            raise RuntimeError(f"cycle among {sorted(set(specs) - done)}")
        for n in ready:
            done.add(n)
            order.append(specs[n])
    return order


def spec_arg(spec: Mapping[str, Any], flag: str) -> str:
    """The value following ``flag`` in a spec's ``transform.cmd``."""
    cmd = list(spec["transform"]["cmd"])
    return str(cmd[cmd.index(flag) + 1])


# --------------------------------------------------------------------------- output


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "git": _git_head(),
    }


def _git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True
        )
        return out.stdout.strip()
    except OSError:
        return ""


def write_results(name: str, data: Mapping[str, Any], results_dir: Path | None = None) -> Path:
    """Write ``<results>/<name>-<UTC time>.json`` and ``<name>-latest.json``; returns the first."""
    d = results_dir or RESULTS_DIR
    d.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    path = d / f"{name}-{stamp}.json"
    path.write_text(text)
    (d / f"{name}-latest.json").write_text(text)
    return path


def fmt(value: Any) -> str:
    """A table cell: thousands separators for ints, 3 significant decimals for floats."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if value else "0"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain aligned text table (numbers right-aligned)."""
    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in rows) if rows else False
        for i in range(len(headers))
    ]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(vals, widths, strict=True))
        )

    out = [title] if title else []
    out.append(line(list(headers)))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b`` or None."""
    if a is None or not b:
        return None
    return a / b


def verdict(ok: bool | None) -> str:
    """'met' / 'MISSED' / '-'."""
    if ok is None:
        return "-"
    return "met" if ok else "MISSED"
