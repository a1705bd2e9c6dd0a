"""Model quality over data seeds: seed, ingest, clean, features, train, predict, then the outcomes.

For each data seed: seeds a fresh embedded warehouse (``--members`` members, with CHURN_OUTCOMES), runs
the stages' library functions (queries -> ingest -> clean -> features for TRAIN and SCORE, train,
predict, monitor) and reports per seed: the promoted model and why, the holdout AUC / log loss /
top-decile recall of the boosted challenger and of the logistic baseline, whether the promoted model
beats the baseline on all three, calibration-in-the-large, min/max CHURN_PROBABILITY, the realized AUC on
the outcomes against the holdout AUC, and training seconds.

    .venv/bin/python bench/bench_model.py [--members 100000] [--seeds 1,2,3,4,5] [--shards 8] [--json]
    .venv/bin/python bench/bench_model.py --members 20000 --seeds 42 --keep /tmp/feat20k   # keep outputs

Measured here: see docs/stages.md ("Model quality").
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

URL = "snowflake://churn@embedded/KKBOX/PUBLIC?warehouse=LOCAL_WH"
ROOT = Path(__file__).resolve().parents[1]


def prepare(root: Path, members: int, seed: int, shards: int) -> None:
    """Seed the embedded warehouse under ``root`` and build the TRAIN and SCORE features there."""
    os.environ["CHURN_WAREHOUSE_DIR"] = str(root / "warehouse")
    from churn.stages.clean import clean_file
    from churn.stages.common import csv_inputs
    from churn.stages.features import build_features, read_clean, write_features
    from churn.stages.ingest import ingest
    from churn.stages.queries import write_query
    from churn.warehouse import connect
    from churn.warehouse.generate import seed_warehouse

    with connect(lock_timeout=60) as conn:
        seed_warehouse(conn, members, seed, outcomes=True)
    (root / "tick").mkdir(exist_ok=True)
    (root / "tick" / "2026-12-01T00:00:00Z").write_text("")
    for window in ("train", "score"):
        w = root / window
        write_query(root / "tick", (ROOT / "pipelines" / "sql" / f"{window}.sql").read_text(), w / "queries")
        ingest(w / "queries", URL, shards, True, w / "data")
        for path in csv_inputs(w / "data"):
            clean_file(path, w / "clean")
        for path in csv_inputs(w / "clean"):
            write_features(build_features(read_clean(path)), w / "features" / path.stem)


def outcomes(root: Path) -> Any:
    """CHURN_OUTCOMES of the warehouse under ``root`` as a DataFrame."""
    os.environ["CHURN_WAREHOUSE_DIR"] = str(root / "warehouse")
    import pandas as pd

    from churn.warehouse import connect

    with connect(lock_timeout=60) as conn:
        cur = conn.cursor()
        cur.execute("SELECT MSNO, IS_CHURN FROM CHURN_OUTCOMES ORDER BY MSNO")
        rows = cur.fetchall()
    return pd.DataFrame(rows, columns=["MSNO", "IS_CHURN"])


def one_seed(root: Path, members: int, seed: int, shards: int) -> dict[str, Any]:
    """Every figure of one data seed."""
    import pandas as pd

    from churn.stages.monitor import realized
    from churn.stages.predict import predict
    from churn.stages.train import train

    t0 = time.perf_counter()
    prepare(root, members, seed, shards)
    t1 = time.perf_counter()
    doc = train(root / "train" / "features", root / "model", 42)
    t2 = time.perf_counter()
    predict(root / "score" / "features", root / "model", root / "predict")
    scores = pd.concat(
        [
            pd.read_csv(p, dtype={"MSNO": str})
            for p in sorted((root / "predict" / "CHURN_SCORES").glob("*.csv"))
        ]
    )
    real = realized(scores, outcomes(root))
    promoted = doc["promotion"]["promoted"]
    model, base = doc["model"], doc["baseline"]
    beats = {
        k: (model[k] > base[k]) if k != "log_loss" else (model[k] < base[k])
        for k in ("auc", "log_loss", "recall_top_decile")
    }
    p = scores["CHURN_PROBABILITY"]
    return {
        "seed": seed,
        "labelled": doc["rows"]["total"],
        "promoted": promoted,
        "reason": doc["promotion"]["reason"],
        "challenger": {k: doc["challenger"][k] for k in ("auc", "log_loss", "recall_top_decile")},
        "baseline": {k: base[k] for k in ("auc", "log_loss", "recall_top_decile")},
        "promoted_beats_baseline_on_all_three": all(beats.values()) if promoted != "logistic" else None,
        "calibration_in_the_large": doc["calibration"]["in_the_large"],
        "min_probability": float(p.min()),
        "max_probability": float(p.max()),
        "exact_0_or_1": int(((p <= 0) | (p >= 1)).sum()),
        "holdout_auc": model["auc"],
        "realized": {k: real[k] for k in ("rows", "auc", "log_loss", "recall_top_decile", "in_the_large")},
        "realized_minus_holdout_auc": round(real["auc"] - model["auc"], 4),
        "prepare_s": round(t1 - t0, 1),
        "train_s": round(t2 - t1, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--keep", type=Path, default=None, help="keep the outputs here (one seed only)")
    parser.add_argument("--json", action="store_true", help="one JSON object per seed")
    args = parser.parse_args()
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
            root = args.keep or Path(tmp)
            r = one_seed(root, args.members, seed, args.shards)
        results.append(r)
        print(json.dumps(r) if args.json else _line(r), flush=True)
    if not args.json:
        wins = sum(1 for r in results if r["promoted_beats_baseline_on_all_three"])
        kept = sum(1 for r in results if r["promoted"] == "logistic")
        print(
            f"promoted model beats the baseline on AUC, log loss and recall: {wins}/{len(results)} seeds; "
            f"baseline kept (and said why): {kept}/{len(results)}"
        )


def _line(r: dict[str, Any]) -> str:
    c, b, real = r["challenger"], r["baseline"], r["realized"]
    return (
        f"seed {r['seed']}: {r['labelled']} labelled; promoted {r['promoted']} ({r['reason']}); "
        f"challenger AUC {c['auc']:.4f} LL {c['log_loss']:.4f} rec10 {c['recall_top_decile']:.3f} | "
        f"baseline AUC {b['auc']:.4f} LL {b['log_loss']:.4f} rec10 {b['recall_top_decile']:.3f}; "
        f"CITL {r['calibration_in_the_large']:+.4f}; p in [{r['min_probability']:.6f}, "
        f"{r['max_probability']:.6f}], {r['exact_0_or_1']} exact 0/1; realized AUC {real['auc']:.4f} on "
        f"{real['rows']} outcomes vs holdout {r['holdout_auc']:.4f} ({r['realized_minus_holdout_auc']:+.4f}); "
        f"realized rec10 {real['recall_top_decile']:.3f}; train {r['train_s']} s"
    )


if __name__ == "__main__":
    main()
