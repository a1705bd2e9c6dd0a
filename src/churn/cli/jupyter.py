"""`churn jupyter`: JupyterLab with jupyterlab-pachyderm on a pachd (a `pachlet serve` started if none
answers), configured through its own PACH_CONFIG, with the walkthrough notebook open."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from pathlib import Path
from types import FrameType

import click

from churn.errors import ChurnError

NOTEBOOK = "jupyter_mount.ipynb"


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@click.command("jupyter")
@click.option(
    "--pachd",
    default=None,
    metavar="ADDRESS",
    help="pachd to point the extension at (default localhost:30650; a pachlet serve is started there if none answers).",
)
@click.option(
    "--root",
    default=None,
    help="pachlet root for the serve it starts (default: $PACHLET_ROOT or ./.pachlet).",
)
@click.option(
    "--jupyter",
    "jupyter_lab",
    default=None,
    help="jupyter-lab executable (default: .venv-jupyter's, then PATH).",
)
@click.option("--port", type=int, default=8888, show_default=True, help="JupyterLab's port (127.0.0.1).")
@click.option("--notebooks", default="notebooks", show_default=True, help="JupyterLab's root directory.")
@click.option("--token", default=None, help="The lab's token (default: a fresh one, printed with the URL).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
def jupyter_command(
    pachd: str | None,
    root: str | None,
    jupyter_lab: str | None,
    port: int,
    notebooks: str,
    token: str | None,
    no_browser: bool,
) -> None:
    """Start JupyterLab with the Pachyderm extension on pachlet; Ctrl-C stops the lab (and the pachlet
    serve it started)."""
    from churn import jupyter as lab
    from churn.warehouse.connection import churn_home

    address = pachd or lab.DEFAULT_PACHD
    exe = jupyter_lab or next(
        (str(p) for p in (Path(".venv-jupyter/bin/jupyter-lab"),) if p.exists()), shutil.which("jupyter-lab")
    )
    if not exe:
        raise click.ClickException("jupyter-lab not found: run `make jupyter-venv` or pass --jupyter")
    root_dir = Path(notebooks).resolve()
    if not root_dir.is_dir():
        raise click.ClickException(f"--notebooks {notebooks}: no such directory")
    paths = lab.lab_paths(churn_home())
    serve: subprocess.Popen[bytes] | None = None
    proc: subprocess.Popen[bytes] | None = None
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so the finally below stops what was started
    try:
        if not lab.pachd_answers(address):
            if pachd:
                raise click.ClickException(f"no pachd answers on {pachd}")
            click.echo(f"churn jupyter: starting pachlet serve on {address} (log {paths.serve_log})")
            serve = lab.start_serve(Path(root) if root else None, address, paths.serve_log)
        lab.write_pach_config(paths.pach_config, address)
        token = token or lab.new_token()
        notebook = str(root_dir / NOTEBOOK) if (root_dir / NOTEBOOK).exists() else None
        log = paths.state / "jupyter-lab.log"
        url = f"http://127.0.0.1:{port}/"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                lab.lab_command(exe, root_dir, notebook, port, token, not no_browser),
                env=lab.lab_env(paths, url, token),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        lab.wait_for_lab(url, token, proc, log)
        page = f"lab/tree/{NOTEBOOK}" if notebook else "lab"
        click.echo(
            f"churn jupyter: JupyterLab on {url}{page}?token={token} (pachd {address}, PACH_CONFIG {paths.pach_config})",
        )
        with contextlib.suppress(KeyboardInterrupt, SystemExit):  # Ctrl-C / SIGTERM: stop below
            proc.wait()
    except ChurnError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # SIGINT would make the lab ask for confirmation
            proc.wait(timeout=30)
        if serve is not None and serve.poll() is None:
            serve.terminate()
            serve.wait(timeout=30)
