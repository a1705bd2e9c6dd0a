"""``make image``: build every image of ``images/images.json`` with podman or docker, tagged as the local
specs name them (``churn-pachlet:dev``) and, with ``--all-tags``, as the cluster specs do.

The base (``PYTHON_IMAGE``, default ``python:3.11-slim-bookworm``) is used when local or pullable; where
no registry is reachable (or with ``--local-base``) and ``mmdebstrap`` is installed, pachlet builds an equivalent
Debian bookworm base (python3, venv, ca-certificates) once and reuses it (``localhost/bookworm-python:3.11``).
When the host's pip needs an extra CA bundle (``/etc/pip.conf`` ``cert =``), podman mounts that bundle
into the build read-only and passes its path as ``PIP_CERT``; nothing of it stays in the image.

    python images/build.py [--engine podman|docker] [--local-base] [--all-tags]
"""

from __future__ import annotations

import argparse
import configparser
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL_BASE = "localhost/bookworm-python:3.11"
DEFAULT_BASE = "python:3.11-slim-bookworm"
LOCAL_TAG = "dev"


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    """Run a command, echoing it."""
    print("+", " ".join(argv), flush=True)
    return subprocess.run(argv, check=True, **kw)  # type: ignore[call-overload]


def exists(engine: str, image: str) -> bool:
    """Whether the engine has ``image`` locally."""
    probe = [engine, "image", "inspect", image]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def local_base(engine: str) -> str:
    """The mmdebstrap base, built once per machine."""
    if exists(engine, LOCAL_BASE):
        return LOCAL_BASE
    if shutil.which("mmdebstrap") is None:
        raise SystemExit("no base image and no mmdebstrap to build one (apt-get install mmdebstrap)")
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "rootfs.tar"
        run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,python-is-python3,ca-certificates",
                *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("man", "locale", "doc")),
                "bookworm",
                str(tar),
            ]
        )
        run([engine, "import", str(tar), LOCAL_BASE])
    return LOCAL_BASE


def registry_reachable(url: str = "https://registry-1.docker.io/v2/") -> bool:
    """Whether Docker Hub answers at all (401 counts: it is there)."""
    try:
        urllib.request.urlopen(url, timeout=5)  # noqa: S310 - a fixed https URL
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True


def pip_cert() -> str:
    """The CA bundle the host's pip is configured with ("" when none)."""
    conf = configparser.ConfigParser()
    conf.read("/etc/pip.conf")
    return conf.get("global", "cert", fallback="")


def tags(all_tags: bool) -> dict[str, list[str]]:
    """Dockerfile -> the tags to give its image."""
    images = json.loads((ROOT / "images" / "images.json").read_text())["images"]
    out: dict[str, list[str]] = {}
    for name, dockerfile in images.items():
        local = "/" not in name
        if local or all_tags:
            out.setdefault(dockerfile, []).append(f"{name}:{LOCAL_TAG if local else '0.1.0'}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Build the images."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default=None)
    ap.add_argument("--local-base", action="store_true")
    ap.add_argument("--all-tags", action="store_true")
    args = ap.parse_args(argv)
    engine = args.engine or next((e for e in ("podman", "docker") if shutil.which(e)), None)
    if engine is None:
        print("make image: neither podman nor docker is installed", file=sys.stderr)
        return 2
    use_local = args.local_base or (not exists(engine, DEFAULT_BASE) and not registry_reachable())
    base = local_base(engine) if use_local else DEFAULT_BASE
    extra: list[str] = []
    cert = pip_cert()
    if cert and Path(cert).is_file():
        if Path(engine).name == "docker":
            print("warning: docker cannot mount the pip CA bundle into a build; bake it into the base", file=sys.stderr)
        else:
            extra += ["--volume", f"{cert}:{cert}:ro", "--build-arg", f"PIP_CERT={cert}"]
    for dockerfile, names in tags(args.all_tags).items():
        common = [engine, "build", "--build-arg", f"PYTHON_IMAGE={base}", *extra, "-f", dockerfile]
        # the builder stage tagged too: its dependency layers stay cached when old images are pruned
        builder = names[0].rsplit(":", 1)[0] + "-builder:cache"
        run([*common, "--target", "builder", "-t", builder, "."], cwd=ROOT)
        run([*common, *[a for n in names for a in ("-t", n)], "."], cwd=ROOT)
    # each code change leaves the previous image untagged (~1 GB of its own venv layer): drop those
    subprocess.run([engine, "image", "prune", "-f"], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
