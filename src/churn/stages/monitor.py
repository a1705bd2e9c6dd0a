"""``churn-monitor`` (run as ``churn monitor``): the model against what really happened, and the drift of
the scoring features.

Inputs (one datum, glob ``/`` on each): the predict output (``CHURN_SCORES/*.csv``, with MODEL_COMMIT and
GLOBAL_ID), the model output (``metrics.json``, ``reference.json``), the scoring features
(``<shard>/features.parquet``) and the outcomes ingest (``*.csv`` of MSNO, IS_CHURN, KNOWN_AT from
CHURN_OUTCOMES; header-only until outcomes exist). Writes ``<out>/monitor.json``:

* ``drift``: the population stability index per feature of the scoring features against the training
  features' reference bins (``churn.ml.drift``), with the predict job (GLOBAL_ID) it belongs to;
* ``realized``: once outcomes exist, per model commit: the rows joined, realized AUC, log loss, Brier,
  calibration-in-the-large, equal-count reliability bins and top-decile recall and precision, next to
  the holdout figures the model reported.

    churn monitor --predict /pfs/predict --model /pfs/model --features /pfs/features \
        --outcomes /pfs/outcomes --out /pfs/out
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from churn.stages.common import StageError, log, require_dir, require_file, run_stage, write_json
from churn.stages.featurespec import feature_shards

STAGE = "churn-monitor"
OUTPUT = "monitor.json"


def read_scores(predict_dir: Path) -> pd.DataFrame:
    """Every CHURN_SCORES CSV of a predict output, concatenated (no rows when there is none yet)."""
    files = sorted((predict_dir / "CHURN_SCORES").glob("*.csv"))
    frames = [pd.read_csv(f, dtype={"MSNO": str, "MODEL_COMMIT": str, "GLOBAL_ID": str}) for f in files]
    for f, frame in zip(files, frames, strict=True):
        missing = [c for c in ("MSNO", "CHURN_PROBABILITY", "MODEL_COMMIT") if c not in frame.columns]
        if missing:
            raise StageError(f"{f}: no column {missing[0]}")
    if not frames:
        log(STAGE, f"warning: no CHURN_SCORES/*.csv under {predict_dir}; nothing to compare with outcomes")
        return pd.DataFrame(
            {c: pd.Series(dtype=str) for c in ("MSNO", "MODEL_COMMIT", "GLOBAL_ID")}
            | {"CHURN_PROBABILITY": pd.Series(dtype=float)}
        )
    return pd.concat(frames, ignore_index=True)


def read_outcomes(outcomes_dir: Path) -> pd.DataFrame:
    """The outcome rows of the outcomes ingest (empty when none exist yet)."""
    frames = []
    for f in sorted(p for p in outcomes_dir.rglob("*.csv") if p.is_file()):
        frame = pd.read_csv(f, dtype={"MSNO": str})
        if len(frame.columns) and not {"MSNO", "IS_CHURN"} <= set(frame.columns):
            raise StageError(f"{f}: expected columns MSNO, IS_CHURN")
        if len(frame):
            frames.append(frame[["MSNO", "IS_CHURN"]])
    if not frames:
        return pd.DataFrame({"MSNO": pd.Series(dtype=str), "IS_CHURN": pd.Series(dtype=int)})
    return pd.concat(frames, ignore_index=True).drop_duplicates("MSNO", keep="last")


def realized(scores: pd.DataFrame, outcomes: pd.DataFrame) -> dict[str, Any]:
    """Realized metrics of ``scores`` (MSNO, CHURN_PROBABILITY) against ``outcomes`` (MSNO, IS_CHURN):
    ``rows`` joined, and when both classes occur AUC, log loss, Brier, top-decile precision/recall/lift,
    calibration-in-the-large and the reliability bins; else only ``rows`` and ``note``."""
    from churn.ml.evaluate import calibration, metrics

    joined = scores.merge(outcomes, on="MSNO", how="inner")
    y = joined["IS_CHURN"].to_numpy(dtype=int)
    out: dict[str, Any] = {"rows": len(joined), "scored": len(scores)}
    if len(joined) == 0 or y.min() == y.max():
        out["note"] = "no outcomes yet" if len(joined) == 0 else "outcomes of one class only"
        return out
    p = joined["CHURN_PROBABILITY"].to_numpy(dtype=float)
    cal = calibration(y, p)
    out.update(metrics(y, p))
    out.update(
        {
            "churn_rate": cal["churn_rate"],
            "mean_probability": cal["mean_probability"],
            "in_the_large": cal["in_the_large"],
            "reliability": cal["bins"],
        }
    )
    if "CHURN_PREDICTION" in joined.columns:
        flagged = joined["CHURN_PREDICTION"].to_numpy(dtype=int) == 1
        hits = int(y[flagged].sum())
        out["policy"] = {
            "contacted_share": round(float(flagged.mean()), 6),
            "precision": round(float(hits / flagged.sum()), 6) if flagged.any() else 0.0,
            "recall": round(float(hits / y.sum()), 6),
        }
    return out


def drift(model_dir: Path, features_dir: Path) -> dict[str, Any]:
    """PSI per feature of the scoring features against the model's training reference."""
    from churn.ml.drift import level, psi

    ref_path = require_file(model_dir / "reference.json")
    try:
        ref = json.loads(ref_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StageError(f"{ref_path}: not valid JSON ({exc})") from exc
    names = list(ref["features"])
    frames = []
    for _, parquet, _ in feature_shards(features_dir):
        frame = pd.read_parquet(parquet)
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise StageError(f"{parquet}: no feature column {missing[0]}")
        frames.append(frame[names])
    X = pd.concat(frames, ignore_index=True).to_numpy(dtype=float) if frames else np.zeros((0, len(names)))
    values = psi(ref, X, names) if len(X) else {}
    worst = max(values.items(), key=lambda kv: kv[1]) if values else ("", 0.0)
    return {
        "rows": len(X),
        "reference_rows": ref["rows"],
        "psi": values,
        "max": {"feature": worst[0], "psi": worst[1], "level": level(worst[1])},
        "shifted": sorted(n for n, v in values.items() if level(v) != "stable"),
    }


def monitor(
    predict_dir: Path, model_dir: Path, features_dir: Path, outcomes_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """Write ``monitor.json``; returns its document."""
    scores = read_scores(predict_dir)
    outcomes = read_outcomes(outcomes_dir)
    metrics_path = require_file(model_dir / "metrics.json")
    reported = json.loads(metrics_path.read_text(encoding="utf-8"))
    commits = sorted(scores["MODEL_COMMIT"].fillna("").astype(str).unique())
    by_commit = {
        c: realized(scores[scores["MODEL_COMMIT"].fillna("").astype(str) == c], outcomes) for c in commits
    }
    jobs = sorted(scores["GLOBAL_ID"].fillna("").astype(str).unique()) if "GLOBAL_ID" in scores else []
    doc = {
        "predict_jobs": jobs,
        "model_commits": commits,
        "outcomes": len(outcomes),
        "holdout": {
            k: reported.get("model", {}).get(k) for k in ("auc", "log_loss", "brier", "recall_top_decile")
        },
        "holdout_calibration_in_the_large": (reported.get("calibration") or {}).get("in_the_large"),
        "promoted": (reported.get("promotion") or {}).get("promoted"),
        "realized": by_commit,
        "drift": drift(model_dir, features_dir),
    }
    write_json(out_dir / OUTPUT, doc)
    for c, r in by_commit.items():
        shown = f"AUC {r['auc']:.4f} on {r['rows']} outcomes" if "auc" in r else r.get("note", "")
        log(STAGE, f"model commit {c or '(none)'}: {shown}")
    d = doc["drift"]["max"]
    log(STAGE, f"max PSI {d['psi']:.4f} ({d['feature']}, {d['level']})")
    return doc


@click.command("monitor", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--predict", "predict_dir", required=True, help="The predict output, e.g. /pfs/predict.")
@click.option("--model", "model_dir", required=True, help="The model output, e.g. /pfs/model.")
@click.option("--features", "features_dir", required=True, help="The scoring features, e.g. /pfs/features.")
@click.option("--outcomes", "outcomes_dir", required=True, help="The outcomes ingest, e.g. /pfs/outcomes.")
@click.option("--out", "out_dir", required=True, help="Output directory, e.g. /pfs/out.")
def cli(predict_dir: str, model_dir: str, features_dir: str, outcomes_dir: str, out_dir: str) -> None:
    """Realized AUC, log loss, calibration and top-decile recall per model commit once outcomes exist,
    and the PSI per feature of the scoring features; writes monitor.json."""

    def body() -> None:
        monitor(
            require_dir(predict_dir, "predict"),
            require_dir(model_dir, "model"),
            require_dir(features_dir, "features"),
            require_dir(outcomes_dir, "outcomes"),
            Path(out_dir),
        )

    run_stage(STAGE, body)
