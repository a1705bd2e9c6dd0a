"""``churn-predict``: scores feature shards with the trained model (cross of ``/*`` and ``/``).

For each feature shard ``<features>/<shard>/`` writes ``<out>/CHURN_SCORES/<shard>.csv`` with a header,
in the CHURN_SCORES column order: MSNO, CHURN_PROBABILITY, CHURN_PREDICTION, MODEL_COMMIT (env
``<basename of --model>_COMMIT``, e.g. ``model_COMMIT``), GLOBAL_ID (env ``PACH_JOB_ID``) and SCORED_AT
(one UTC timestamp per run). ``CHURN_PREDICTION`` is 1 when the probability reaches the threshold of
the model's campaign policy. Refuses a model whose feature version differs from the features'.

    churn-predict --features /pfs/features --model /pfs/model --out /pfs/out
"""

from __future__ import annotations

import atexit
import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from churn.stages.common import StageError, env, log, require_dir, require_file, run_stage, stage_main
from churn.stages.featurespec import feature_shards, read_spec

STAGE = "churn-predict"
TABLE = "CHURN_SCORES"
MODEL_FILE = "model.joblib"
COLUMNS = ("MSNO", "CHURN_PROBABILITY", "CHURN_PREDICTION", "MODEL_COMMIT", "GLOBAL_ID", "SCORED_AT")


_LOADED: dict[tuple[str, int, int, int], dict[str, Any]] = {}
"""Models loaded by this process, by (path, inode, size, mtime): a batching worker loads it once."""

# Free the model while the interpreter is whole: a model still referenced from a module global at
# shutdown can abort the process in native teardown ("terminate called without an active exception").
atexit.register(_LOADED.clear)


def load_model(model_dir: Path) -> dict[str, Any]:
    """The bundle written by churn-train (loaded once per process for the same file); a StageError names
    the file if it is missing or not one."""
    path = require_file(model_dir / MODEL_FILE)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = _load_bundle(path)
    return _LOADED[key]


def _load_bundle(path: Path) -> dict[str, Any]:
    import joblib

    try:
        bundle = joblib.load(path)
    except Exception as exc:
        raise StageError(f"{path}: cannot load the model ({type(exc).__name__}: {exc})") from exc
    if not isinstance(bundle, dict) or not {"model", "feature_version", "feature_names", "threshold"} <= set(
        bundle
    ):
        raise StageError(f"{path}: not a churn-train model bundle")
    return bundle


def score_frame(bundle: dict[str, Any], features: pd.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and 0/1 predictions for the rows of a feature frame."""
    names = bundle["feature_names"]
    missing = [n for n in names if n not in features.columns]
    if missing:
        raise StageError(f"{source}: no feature column {missing[0]}")
    if len(features) == 0:
        return np.zeros(0), np.zeros(0, dtype=int)
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime, so that the limit reaches it)
    from threadpoolctl import threadpool_limits

    # one OpenMP thread, as in churn-train (competing threads on a shared machine stall)
    with threadpool_limits(limits=int(env("CHURN_TRAIN_THREADS", "1")), user_api="openmp"):
        proba = bundle["model"].predict_proba(features[names].to_numpy(dtype=float))[:, 1]
    return proba, (proba >= bundle["threshold"]).astype(int)


def write_scores(
    path: Path, msno: pd.Series, proba: np.ndarray, pred: np.ndarray, lineage: tuple[str, str, str]
) -> None:
    """Write one CHURN_SCORES CSV (header, then one row per user)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model_commit, global_id, scored_at = lineage
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for m, p, c in zip(msno.astype(str), proba, pred, strict=True):
            w.writerow([m, f"{p:.6f}", int(c), model_commit, global_id, scored_at])


def predict(features_dir: Path, model_dir: Path, out_dir: Path) -> dict[str, int]:
    """Score every shard; returns rows written per shard."""
    bundle = load_model(model_dir)
    shards = feature_shards(features_dir)
    if not shards:
        raise StageError(f"no feature shard under {features_dir} (expected <shard>/features.parquet)")
    commit_var = f"{Path(str(model_dir).rstrip('/')).name}_COMMIT"
    model_commit = env(commit_var)
    if not model_commit:
        log(STAGE, f"warning: {commit_var} is not set; MODEL_COMMIT will be empty")
    global_id = env("PACH_JOB_ID")
    scored_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    written: dict[str, int] = {}
    for name, parquet, spec_path in shards:
        spec = read_spec(spec_path)
        if spec["version"] != bundle["feature_version"]:
            raise StageError(
                f"{spec_path}: feature version {spec['version']} differs from the model's "
                f"{bundle['feature_version']} ({model_dir / MODEL_FILE}); retrain the model on these features"
            )
        frame = pd.read_parquet(parquet)
        proba, pred = score_frame(bundle, frame, str(parquet))
        write_scores(
            out_dir / TABLE / f"{name}.csv",
            frame[spec["id"]],
            proba,
            pred,
            (model_commit, global_id, scored_at),
        )
        written[name] = len(frame)
        log(STAGE, f"{name}: {len(frame)} rows scored, {int(pred.sum())} predicted to churn")
    return written


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--features", "features_dir", required=True, help="Feature shards, e.g. /pfs/features.")
@click.option("--model", "model_dir", required=True, help="The model output, e.g. /pfs/model.")
@click.option("--out", "out_dir", required=True, help="Output directory, e.g. /pfs/out.")
def cli(features_dir: str, model_dir: str, out_dir: str) -> None:
    """Write /CHURN_SCORES/<shard>.csv for every feature shard, with lineage columns."""

    def body() -> None:
        predict(require_dir(features_dir, "features"), require_dir(model_dir, "model"), Path(out_dir))

    run_stage(STAGE, body)


def main() -> None:
    """Console-script entry point (once per datum under ``datumBatching``)."""
    stage_main(cli, STAGE)
