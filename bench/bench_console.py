"""Console page times on a generated root: a DAG of 20 pipelines and about 1,000 commits.

    python bench/bench_console.py [--pipelines 20] [--commits 1000] [--repeat 7] [--root DIR]

Generates the root once (kept with --root, reused when it already has the pipelines): two source repos,
a chain of pipelines where every third also reads the one two back and every fifth the second source,
each with one datum (``sh`` writing one small file), and enough commits on the first source that the root holds about
``--commits`` commits. Then it renders every kind of console page in-process (Starlette's test client:
no network, the same code uvicorn runs) and prints per page the min / median / max wall time in ms and
the HTML size; then, if /usr/bin/chromium exists, the time each page takes to its load event in
headless Chromium over real HTTP (uvicorn). Figures, not a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pachlet.api import Pachlet  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pipeline_spec(i: int) -> dict[str, Any]:
    """Pipeline ``p<i>``: reads the previous one (p00 reads src_a), sometimes two back or src_b too."""
    ups = ["src_a"] if i == 0 else [f"p{i - 1:02d}"]
    if i % 3 == 2:
        ups.append(f"p{i - 2:02d}")
    if i % 5 == 4:
        ups.append("src_b")
    inputs = [{"pfs": {"repo": r, "glob": "/"}} for r in ups]
    return {
        "pipeline": {"name": f"p{i:02d}"},
        "description": f"generated pipeline {i}",
        "input": inputs[0] if len(inputs) == 1 else {"cross": inputs},
        "transform": {"cmd": ["sh", "-c", "echo $PACH_DATUM_ID > /pfs/out/out.txt"], "image": "alpine:3"},
    }


def generate(root: Path, pipelines: int, commits: int) -> float:
    """Build the root; returns the seconds it took (0 if it was already there)."""
    with Pachlet(root, timeout=5) as p:
        if len(p.list_pipelines()) >= pipelines:
            return 0.0
        t0 = time.perf_counter()
        p.create_repo("src_a")
        p.create_repo("src_b")
        p.put_file("src_b", "master", "/b.csv", b"k,v\n1,2\n")
        p.put_file("src_a", "master", "/a-0000.csv", b"k,v\n0,0\n")
        for i in range(pipelines):
            p.create_pipeline(pipeline_spec(i))
        p.run_until_idle()
        n = 1
        while len(p.list_commits()) < commits:
            p.put_file("src_a", "master", f"/a-{n:04d}.csv", f"k,v\n{n},{n * n}\n".encode())
            p.run_until_idle()
            n += 1
        return time.perf_counter() - t0


def urls(p: Pachlet) -> list[tuple[str, str]]:
    """(label, URL) of one page of each kind, on the biggest objects."""
    last = f"p{len(p.list_pipelines()) - 1:02d}"
    src = p.list_commits("src_a")
    job = p.list_jobs(last)[0]
    datum = p.list_datums(last, job.id)[0]
    return [
        ("DAG (home)", "/"),
        ("repos", "/repos"),
        ("repo src_a", "/repos/src_a"),
        (f"repo {last}", f"/repos/{last}"),
        ("commit src_a (subvenance: whole DAG)", f"/repos/src_a/commits/{src[0].id}"),
        ("commit src_a, oldest (subvenance)", f"/repos/src_a/commits/{src[-1].id}"),
        (f"commit {last} (provenance: whole DAG)", f"/repos/{last}/commits/{job.id}"),
        ("files of src_a", f"/repos/src_a/commits/{src[0].id}/files/"),
        ("file preview (CSV)", f"/repos/src_a/commits/{src[0].id}/files/a-0000.csv"),
        ("global IDs (all commits)", "/commits"),
        ("one global ID", f"/commits/{job.id}"),
        ("pipelines", "/pipelines"),
        (f"pipeline {last}", f"/pipelines/{last}"),
        ("jobs", "/jobs"),
        (f"job {last}", f"/pipelines/{last}/jobs/{job.id}"),
        ("datum + logs", f"/pipelines/{last}/jobs/{job.id}/datums/{datum.datum_id}"),
    ]


def main() -> None:
    """Generate (or reuse) the root and print the page times."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipelines", type=int, default=20)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--root", type=Path, default=None, help="keep the generated root here (reused)")
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium page loads")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

    from pachlet.console.app import create_app

    root = args.root or Path(tempfile.mkdtemp(prefix="bench-console-")) / "root"
    took = generate(root, args.pipelines, args.commits)
    with Pachlet(root, read_only=True) as p:
        n_commits, n_jobs, n_pipes = len(p.list_commits()), len(p.list_jobs()), len(p.list_pipelines())
        pages = urls(p)
    gen = f"generated in {took:.1f} s" if took else "reused"
    print(f"root {root}: {n_pipes} pipelines, {n_commits} commits, {n_jobs} jobs ({gen})")
    with TestClient(create_app(root, load_entry_points=False)) as client:
        client.get("/")  # compile the templates once
        print(f"{'page':44} {'min ms':>8} {'median':>8} {'max':>8} {'KiB':>7}")
        worst = 0.0
        for label, url in pages:
            times = []
            size = 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                r = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (url, r.status_code)
                size = len(r.content)
            worst = max(worst, max(times))
            print(
                f"{label:44} {min(times):8.1f} {statistics.median(times):8.1f} {max(times):8.1f} {size / 1024:7.1f}"
            )
        print(f"slowest single page load: {worst:.0f} ms")
    if Path(CHROMIUM).exists() and not args.no_browser:
        browser_times(root, pages, args.repeat)


def browser_times(root: Path, pages: list[tuple[str, str]], repeat: int) -> None:
    """Load each page in headless Chromium over real HTTP (uvicorn) and print the time to the load
    event (navigation start to loadEventEnd, so HTML, CSS and images are in)."""
    import socket
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    from pachlet.console.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(root, load_entry_points=False), log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    js = "() => { const t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd - t.startTime; }"
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = b.new_page()
            print(
                f"\nin Chromium over HTTP (load event, ms):\n{'page':44} {'min ms':>8} {'median':>8} {'max':>8}"
            )
            for label, url in pages:
                times = []
                for _ in range(repeat):
                    pg.goto(f"http://127.0.0.1:{port}{url}")
                    times.append(float(pg.evaluate(js)))
                print(f"{label:44} {min(times):8.1f} {statistics.median(times):8.1f} {max(times):8.1f}")
            b.close()
    finally:
        server.should_exit = True
        thread.join(5)


if __name__ == "__main__":
    main()
