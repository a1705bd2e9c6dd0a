"""Helm values and the Snowflake Secret: parse the YAML and check what the README documents."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import REPO_ROOT

HELM = REPO_ROOT / "helm"
PACHD_TAG = "2.7.6"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _readme_section(name: str) -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    heading = (
        "## Running on a real Snowflake and a real Pachyderm cluster"
        if name == "cluster"
        else "## Pipelines and specs"
    )
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end > 0 else len(text)]


@pytest.mark.parametrize("values_file", ["values-local.yaml", "values-cloud.yaml"])
def test_values_pin_pachd_for_native_snowflake_egress(values_file: str) -> None:
    values = _load(HELM / "pachyderm" / values_file)
    tag = values["pachd"]["image"]["tag"]
    assert isinstance(tag, str) and tag == PACHD_TAG
    major, minor, patch = (int(x) for x in tag.split("."))
    # the Snowflake egress driver ships in pachd 2.7.0 .. 2.7.6
    assert (major, minor) == (2, 7) and patch <= 6
    assert values["console"]["enabled"] is True
    assert values["proxy"]["enabled"] is True


def test_local_values() -> None:
    values = _load(HELM / "pachyderm" / "values-local.yaml")
    assert values["deployTarget"] == "LOCAL"
    assert values["pachd"]["storage"]["backend"] == "LOCAL"
    assert values["pachd"]["storage"]["local"]["hostPath"].endswith("/")  # the chart requires the trailing /


def test_cloud_values_have_storage_and_no_credentials() -> None:
    values = _load(HELM / "pachyderm" / "values-cloud.yaml")
    assert values["deployTarget"] in {"AMAZON", "GOOGLE", "MICROSOFT"}
    storage = values["pachd"]["storage"]
    assert storage["backend"] == values["deployTarget"]
    assert storage["amazon"]["bucket"] and storage["amazon"]["region"]
    text = (HELM / "pachyderm" / "values-cloud.yaml").read_text()
    for secret_key in ("secret:", "id:", "token:", "cred:"):
        assert secret_key not in text


def test_secret_manifest_carries_no_password() -> None:
    text = (HELM / "snowflake-secret.yaml").read_text()
    doc = yaml.safe_load(text)
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Secret"
    assert doc["metadata"]["name"] == "snowflakesecret"
    assert doc["stringData"] == {"PACHYDERM_SQL_PASSWORD": "${PACHYDERM_SQL_PASSWORD}"}
    assert "data" not in doc


@pytest.mark.skipif(shutil.which("envsubst") is None, reason="envsubst (gettext-base) not installed")
def test_secret_value_is_supplied_at_install() -> None:
    """`envsubst < helm/snowflake-secret.yaml | kubectl apply -f -` yields the password from the environment."""
    result = subprocess.run(
        ["envsubst"],
        input=(HELM / "snowflake-secret.yaml").read_text(),
        capture_output=True,
        text=True,
        env={**os.environ, "PACHYDERM_SQL_PASSWORD": "s3cr:et'\"pw #\\x"},
        check=True,
    )
    doc = yaml.safe_load(result.stdout)
    assert doc["stringData"]["PACHYDERM_SQL_PASSWORD"] == "s3cr:et'\"pw #\\x"


def test_secret_matches_what_the_cluster_specs_reference() -> None:
    """The Secret's name and key are the ones the cluster target declares and its specs use."""
    from churn.render import find_project, target_params

    doc = _load(HELM / "snowflake-secret.yaml")
    params = target_params(find_project(REPO_ROOT), "cluster")
    assert {"name": doc["metadata"]["name"], "keys": sorted(doc["stringData"])} in params["declaredSecrets"]
    predict = REPO_ROOT / "specs" / "cluster" / "churn_predict.json"
    if predict.is_file():
        secret = json.loads(predict.read_text())["egress"]["sqlDatabase"]["secret"]
        assert secret == {"name": doc["metadata"]["name"], "key": "PACHYDERM_SQL_PASSWORD"}


def test_readme_documents_these_values() -> None:
    section = _readme_section("cluster")
    assert "helm repo add pach https://helm.pachyderm.com" in section
    assert (
        "-f helm/pachyderm/values-local.yaml" in section and "-f helm/pachyderm/values-cloud.yaml" in section
    )
    assert f"--version {PACHD_TAG}" in section and f"pachd.image.tag` `{PACHD_TAG}`" in section
    assert "envsubst < helm/snowflake-secret.yaml | kubectl apply -f -" in section
    assert "pachctl run cron churn_train_queries" in section
    # pipelines are created in dependency order: each after the pipelines it reads
    from churn.specs import input_repos

    specs_dir = REPO_ROOT / "specs" / "cluster"
    if not any(specs_dir.glob("*.json")):
        pytest.skip("specs/cluster not rendered yet")
    specs = {p.stem: json.loads(p.read_text()) for p in specs_dir.glob("*.json")}
    where = {name: section.index(f"specs/cluster/{name}.json") for name in specs}
    for name, spec in specs.items():
        for repo in input_repos(spec["input"]):
            assert where[repo] < where[name], f"README creates {name} before {repo}"
