"""``churn-features``: the model features of each clean shard, for training and scoring alike.

For each ``<shard>.csv`` of the clean output (``<input>/data/*.csv``, or ``<input>/*.csv``) writes
``<out>/<shard>/features.parquet`` (MSNO, the features, and IS_CHURN when the shard is labelled) and
``<out>/<shard>/feature_spec.json``. ``build_features`` is the single code path for both windows; every
duration is measured from the row's CUTOFF_DATE, so the train and score windows give comparable values.

    churn-features --input /pfs/clean --out /pfs/out
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churn.stages import layout
from churn.stages.common import StageError, csv_inputs, log, require_dir, run_stage, stage_main, write_json
from churn.stages.featurespec import FEATURES_FILE, SPEC_FILE, Feature, spec_dict

STAGE = "churn-features"
MAX_CATEGORY = 200  # HistGradientBoosting takes category codes below its 255 bins
AGE_BANDS = (18, 25, 35, 45, 55)  # age band 0 = unknown, 1 = under 18, ..., 6 = 55 and over

_N = "numeric"
_C = "categorical"
FEATURES: tuple[Feature, ...] = (
    Feature(
        "days_since_last_listen", _N, "days from the last listening day to the cut-off (91: none in 90 days)"
    ),
    Feature("active_days_7", _N, "listening days in the last 7 days"),
    Feature("active_days_14", _N, "listening days in the last 14 days"),
    Feature("active_days_30", _N, "listening days in the last 30 days"),
    Feature("active_days_90", _N, "listening days in the last 90 days"),
    Feature("hours_7", _N, "hours played in the last 7 days"),
    Feature("hours_30", _N, "hours played in the last 30 days"),
    Feature("hours_90", _N, "hours played in the last 90 days"),
    Feature("plays_7", _N, "songs played in the last 7 days"),
    Feature("plays_30", _N, "songs played in the last 30 days"),
    Feature("plays_90", _N, "songs played in the last 90 days"),
    Feature("unique_30", _N, "daily unique songs summed over the last 30 days"),
    Feature("unique_ratio_30", _N, "unique songs per song played, last 30 days"),
    Feature("completion_ratio_30", _N, "share of plays listened to 98.5 % or more, last 30 days"),
    Feature("completion_ratio_90", _N, "share of plays listened to 98.5 % or more, last 90 days"),
    Feature("skip_ratio_30", _N, "share of plays stopped before 25 %, last 30 days"),
    Feature("secs_per_active_day_30", _N, "seconds played per listening day, last 30 days"),
    Feature("trend_secs_7_30", _N, "log daily seconds, last 7 days minus last 30 days"),
    Feature("trend_secs_30_90", _N, "log daily seconds, last 30 days minus last 90 days"),
    Feature("trend_days_14_90", _N, "share of active days, last 14 days minus last 90 days"),
    Feature("last_auto_renew", _N, "latest transaction is auto-renewing (0/1)"),
    Feature("last_is_cancel", _N, "latest transaction is a cancellation (0/1)"),
    Feature("last_plan_days", _N, "plan days of the latest transaction"),
    Feature("last_list_price", _N, "list price of the latest transaction"),
    Feature("last_amount_paid", _N, "amount paid in the latest transaction"),
    Feature("last_discount", _N, "list price minus amount paid, latest transaction"),
    Feature("last_is_free", _N, "latest transaction paid nothing (0/1)"),
    Feature("days_to_expiry", _N, "days from the cut-off to the membership expiry"),
    Feature("days_since_last_transaction", _N, "days from the latest transaction to the cut-off"),
    Feature("tx_count", _N, "transactions up to the cut-off"),
    Feature("tx_cancels", _N, "cancellations up to the cut-off"),
    Feature("tx_auto_renew_share", _N, "share of auto-renewing transactions"),
    Feature("tx_mean_discount", _N, "mean list price minus amount paid"),
    Feature("tx_discounted", _N, "transactions paid below list price"),
    Feature("tx_renewals", _N, "subscriptions made after an earlier expiry"),
    Feature("tx_late_renewals", _N, "renewals made after the previous membership had expired"),
    Feature("tx_lapses", _N, "renewals more than 30 days after the previous expiry (past churns)"),
    Feature("tx_lapse_share", _N, "lapses per renewal"),
    Feature("tx_mean_gap_days", _N, "mean days from the previous expiry to a renewal (negative: early)"),
    Feature("customer_days", _N, "days from the first transaction to the cut-off"),
    Feature("tenure_days", _N, "days from registration to the cut-off"),
    Feature("payment_method", _C, "payment method of the latest transaction"),
    Feature("registered_via", _C, "registration channel"),
    Feature("city", _C, "city code"),
    Feature("age_band", _C, "0 unknown, 1 <18, 2 18-24, 3 25-34, 4 35-44, 5 45-54, 6 55+"),
    Feature("gender", _C, "0 unknown, 1 male, 2 female"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
SPEC: dict = spec_dict(FEATURES, layout.ID, layout.LABEL)


def _to_date(values: pd.Series) -> pd.Series:
    num = pd.to_numeric(values, errors="coerce")
    num = num.where((num >= 0) & (num < 1e9))
    return pd.to_datetime(num.astype("Int64").astype("string"), format="%Y%m%d", errors="coerce")


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.days.astype(float)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype(float)


def _category(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce").astype(float)
    return v.where((v >= 0) & (v <= MAX_CATEGORY))


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(df[name], errors="coerce").astype(float)


def build_features(clean: pd.DataFrame) -> pd.DataFrame:
    """The feature frame of clean rows: MSNO, the features in ``FEATURE_NAMES`` order (float64), then
    IS_CHURN (int64) when the rows carry a label. The one code path for training and scoring."""
    c = clean.reset_index(drop=True)
    cutoff = _to_date(c["CUTOFF_DATE"])
    f: dict[str, pd.Series] = {}
    last_listen = _days(cutoff, _to_date(c["LOG_LAST_DATE"]))
    f["days_since_last_listen"] = last_listen.fillna(91.0)
    for n in layout.WINDOWS:
        f[f"active_days_{n}"] = _col(c, f"DAYS_{n}D")
    secs = {n: _col(c, f"SECS_{n}D") for n in layout.WINDOWS}
    plays = {n: sum(_col(c, f"{p}_{n}D") for p in layout.PLAY_COLUMNS[:5]) for n in layout.WINDOWS}
    for n in (7, 30, 90):
        f[f"hours_{n}"] = secs[n] / 3600.0
    for n in (7, 30, 90):
        f[f"plays_{n}"] = plays[n]
    f["unique_30"] = _col(c, "NUM_UNQ_30D")
    f["unique_ratio_30"] = _ratio(_col(c, "NUM_UNQ_30D"), plays[30])
    for n in (30, 90):
        f[f"completion_ratio_{n}"] = _ratio(_col(c, f"NUM_100_{n}D"), plays[n])
    f["skip_ratio_30"] = _ratio(_col(c, "NUM_25_30D"), plays[30])
    f["secs_per_active_day_30"] = _ratio(secs[30], _col(c, "DAYS_30D")).fillna(0.0)
    f["trend_secs_7_30"] = np.log1p(secs[7] / 7) - np.log1p(secs[30] / 30)
    f["trend_secs_30_90"] = np.log1p(secs[30] / 30) - np.log1p(secs[90] / 90)
    f["trend_days_14_90"] = _col(c, "DAYS_14D") / 14 - _col(c, "DAYS_90D") / 90
    f["last_auto_renew"] = _col(c, "LAST_IS_AUTO_RENEW")
    f["last_is_cancel"] = _col(c, "LAST_IS_CANCEL")
    f["last_plan_days"] = _col(c, "LAST_PAYMENT_PLAN_DAYS")
    price, paid = _col(c, "LAST_PLAN_LIST_PRICE"), _col(c, "LAST_ACTUAL_AMOUNT_PAID")
    f["last_list_price"] = price
    f["last_amount_paid"] = paid
    f["last_discount"] = price - paid
    f["last_is_free"] = (paid == 0).astype(float).where(paid.notna())
    f["days_to_expiry"] = _days(_to_date(c["LAST_MEMBERSHIP_EXPIRE_DATE"]), cutoff)
    f["days_since_last_transaction"] = _days(cutoff, _to_date(c["LAST_TRANSACTION_DATE"]))
    f["tx_count"] = _col(c, "TX_COUNT")
    f["tx_cancels"] = _col(c, "TX_CANCELS")
    f["tx_auto_renew_share"] = _col(c, "TX_AUTO_RENEW_SHARE")
    f["tx_mean_discount"] = _col(c, "TX_MEAN_DISCOUNT")
    f["tx_discounted"] = _col(c, "TX_DISCOUNTED")
    f["tx_renewals"] = _col(c, "TX_RENEWALS")
    f["tx_late_renewals"] = _col(c, "TX_LATE_RENEWALS")
    f["tx_lapses"] = _col(c, "TX_LAPSES")
    f["tx_lapse_share"] = _ratio(_col(c, "TX_LAPSES"), _col(c, "TX_RENEWALS"))
    f["tx_mean_gap_days"] = _col(c, "TX_MEAN_GAP_DAYS")
    f["customer_days"] = _days(cutoff, _to_date(c["TX_FIRST_DATE"]))
    f["tenure_days"] = _days(cutoff, _to_date(c["REGISTRATION_INIT_TIME"]))
    f["payment_method"] = _category(c["LAST_PAYMENT_METHOD_ID"])
    f["registered_via"] = _category(c["REGISTERED_VIA"])
    f["city"] = _category(c["CITY"])
    bd = _col(c, "BD")
    f["age_band"] = pd.Series(
        np.where(bd.isna(), 0, np.searchsorted(AGE_BANDS, bd.fillna(0), side="right") + 1), dtype=float
    )
    gender = c["GENDER"].astype("string").str.lower()
    f["gender"] = gender.map({"male": 1.0, "female": 2.0}).fillna(0.0).astype(float)

    out = pd.DataFrame({layout.ID: c[layout.ID].astype(str)})
    for name in FEATURE_NAMES:
        out[name] = f[name].astype(float).replace([np.inf, -np.inf], np.nan).to_numpy()
    if layout.LABEL in c.columns:
        out[layout.LABEL] = pd.to_numeric(c[layout.LABEL], errors="raise").astype("int64").to_numpy()
    return out


def read_clean(path: Path) -> pd.DataFrame:
    """A clean CSV (as written by churn-clean) with its types; a StageError names missing columns."""
    if not path.read_text(encoding="utf-8").strip():
        raise StageError(f"{path}: empty file (no header); expected the clean stage's CSV")
    header = pd.read_csv(path, nrows=0).columns.tolist()
    needed = layout.columns(layout.LABEL in header)
    missing = [col for col in needed if col not in header]
    if missing:
        raise StageError(f"{path}: missing column {missing[0]}")
    df = pd.read_csv(
        path, dtype=layout.pandas_dtypes(needed), usecols=needed, keep_default_na=False, na_values=[""]
    )
    if df[layout.ID].isna().any():
        row = int(df[layout.ID].isna().to_numpy().argmax()) + 2
        raise StageError(f"{path}: row {row}: empty MSNO (run churn-clean first)")
    return df[needed]


def arrow_schema(with_label: bool) -> pa.Schema:
    """The Parquet schema of a features file."""
    fields = [pa.field(layout.ID, pa.string())] + [pa.field(n, pa.float64()) for n in FEATURE_NAMES]
    if with_label:
        fields.append(pa.field(layout.LABEL, pa.int64()))
    return pa.schema(fields)


def write_features(frame: pd.DataFrame, shard_dir: Path) -> None:
    """Write ``features.parquet`` and ``feature_spec.json`` for one shard."""
    shard_dir.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(
        frame, schema=arrow_schema(layout.LABEL in frame.columns), preserve_index=False
    )
    pq.write_table(table, shard_dir / FEATURES_FILE, compression="zstd")
    write_json(shard_dir / SPEC_FILE, SPEC)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--input", "input_dir", required=True, help="The clean output, e.g. /pfs/clean.")
@click.option("--out", "out_dir", required=True, help="Output directory, e.g. /pfs/out.")
def cli(input_dir: str, out_dir: str) -> None:
    """Build the features of every clean shard: <out>/<shard>/features.parquet + feature_spec.json."""

    def body() -> None:
        inputs = csv_inputs(require_dir(input_dir, "input"))
        if not inputs:
            raise StageError(f"no clean CSV file under {input_dir} (expected data/<shard>.csv)")
        for path in inputs:
            frame = build_features(read_clean(path))
            write_features(frame, Path(out_dir) / path.stem)
            log(STAGE, f"{path.name}: {len(frame)} rows, {len(FEATURE_NAMES)} features ({SPEC['version']})")

    run_stage(STAGE, body)


def main() -> None:
    """Console-script entry point (once per datum under ``datumBatching``)."""
    stage_main(cli, STAGE)
