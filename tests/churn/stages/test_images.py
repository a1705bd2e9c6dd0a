"""Static checks of images/ (no Docker engine here): every image the specs name has a Dockerfile, the
Dockerfile follows the image rules, and every transform.cmd entry point exists in the installed package."""

from __future__ import annotations

import importlib
import json
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from helpers import REPO_ROOT

IMAGES = json.loads((REPO_ROOT / "images" / "images.json").read_text())["images"]
SPEC_FILES = sorted((REPO_ROOT / "specs").glob("*/*.json"))
STAGE_SCRIPTS = (
    "churn-queries",
    "churn-ingest",
    "churn-clean",
    "churn-features",
    "churn-train",
    "churn-predict",
    "churn-egress",
)


def image_name(ref: str) -> str:
    """An image reference without its tag or digest: ghcr.io/a/b:1.0 -> ghcr.io/a/b."""
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return ref[: len(ref) - len(last)] + last.split(":", 1)[0]


def console_scripts() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group="console_scripts")}


def stages(dockerfile: str) -> list[list[str]]:
    """The instruction lines of each build stage (continuations joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", dockerfile)
    out: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


@pytest.mark.parametrize("dockerfile", sorted(set(IMAGES.values())))
def test_dockerfile_rules(dockerfile: str) -> None:
    text = (REPO_ROOT / dockerfile).read_text()
    st = stages(text)
    assert len(st) >= 2, "multi-stage build expected"
    assert "python:3.11-slim" in text
    final = st[-1]
    assert not any(line.upper().startswith("HEALTHCHECK") for s in st for line in s)
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users and not users[-1].startswith(("root", "0:", "0")), "final stage must run as a non-root user"
    assert any("--from=builder" in line and "/opt/venv" in line for line in final)
    build_tools = re.compile(r"\b(gcc|g\+\+|build-essential|make|apt-get install)\b")
    assert not any(build_tools.search(line) for line in final if line.upper().startswith("RUN ")), final
    builder = " ".join(st[0])
    assert "pip install --no-deps ." in builder and "COPY src" in builder
    # dependencies from the lock, installed before the source is copied (a code change rebuilds one layer)
    assert builder.index("-r requirements.lock") < builder.index("COPY src")
    assert "python3 -m venv" in builder  # a plain Debian base has no `python`
    assert "pip.conf" not in text  # nothing of the build machine's pip configuration in the image


def test_lock_pins_every_run_time_dependency() -> None:
    """images/churn/requirements.lock: every line pinned with ==, covering the project's dependencies."""
    lock = REPO_ROOT / "images" / "churn" / "requirements.lock"
    pins = [x for x in lock.read_text().splitlines() if x and not x.startswith("#")]
    assert pins and all(re.fullmatch(r"[a-z0-9-]+==\S+", x) for x in pins), pins
    names = {x.split("==")[0] for x in pins}
    import tomllib

    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}
    assert wanted <= names, sorted(wanted - names)


def test_dockerignore_keeps_context_small() -> None:
    lines = [
        x.strip() for x in (REPO_ROOT / ".dockerignore").read_text().splitlines() if x.strip() and x[0] != "#"
    ]
    assert lines[0] == "*" and "!src/" in lines and "!pyproject.toml" in lines
    assert "!images/churn/requirements.lock" in lines


def test_stage_entry_points_are_installed() -> None:
    scripts = console_scripts()
    for name in STAGE_SCRIPTS:
        assert name in scripts, name
        module, attr = scripts[name].split(":")
        assert callable(getattr(importlib.import_module(module), attr))


@pytest.mark.skipif(not SPEC_FILES, reason="no rendered specs under specs/*/*.json yet")
@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=[f"{p.parent.name}/{p.name}" for p in SPEC_FILES])
def test_spec_images_and_commands_exist(spec_file: Path) -> None:
    doc = json.loads(spec_file.read_text())
    specs = doc if isinstance(doc, list) else [doc]
    scripts = console_scripts()
    for spec in specs:
        transform = spec.get("transform", {})
        image = transform.get("image")
        if image:
            name = image_name(image)
            assert name in IMAGES, f"{spec_file}: image {image} has no Dockerfile in images/images.json"
            assert (REPO_ROOT / IMAGES[name]).is_file()
        cmd = transform.get("cmd") or []
        if cmd:
            assert cmd[0] in scripts, f"{spec_file}: transform.cmd {cmd[0]} is not a console script"
            module, attr = scripts[cmd[0]].split(":")
            assert callable(getattr(importlib.import_module(module), attr))


def test_image_name() -> None:
    assert image_name("ghcr.io/churn-pachlet/churn:0.1.0") == "ghcr.io/churn-pachlet/churn"
    assert image_name("churn-pachlet:dev") == "churn-pachlet"
    assert image_name("localhost:5000/x@sha256:ab") == "localhost:5000/x"
