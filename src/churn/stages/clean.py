"""``churn-clean``: typed parsing and repair of one ingested shard (one datum = one shard).

For each CSV under ``--input`` (``shard-NN.csv``, the query result of ``pipelines/sql/*.sql``) writes
    <out>/data/<shard>.csv        the clean rows (same columns, typed and repaired)
    <out>/quarantine/<shard>.csv  rows that cannot be repaired, with their raw values and a REASON column
    <out>/report/<shard>.json     counts of every repair and rejection, rows in and out
Nothing is dropped silently: rows_in == rows_out + quarantined + duplicates_removed.

Rejections (quarantine REASON): ``missing_msno``, ``unparseable_<COLUMN>`` (not a number, or a fraction in
an integer column), ``invalid_label`` (IS_CHURN not 0/1), ``invalid_cutoff_date``,
``expire_before_transaction`` (the latest transaction, not a cancellation, expires before it was made
and has no plan days to rebuild the expiry from), ``duplicate_msno_conflict`` (a second, different row for a user already seen).
Exact duplicate rows are removed and counted. Repairs are listed in ``REPAIRS``. Records that are not rows
of the query's columns (``too_many_fields``, ``too_few_fields``, ``bad_quoting``) are quarantined too, with
their RAW text; every quarantined row carries its LINE in the shard. A shard fails only when none of its
rows is readable.

    churn-clean --input /pfs/data --out /pfs/out
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
import pandas as pd

from churn.stages import layout
from churn.stages.common import StageError, csv_inputs, log, require_dir, run_stage, stage_main, write_json

STAGE = "churn-clean"
REASON = "REASON"
MIN_DATE = 20000101
SECS_PER_DAY = 86400.0
MAX_PLAN_DAYS = 3650
NULL_TOKENS = frozenset({"", "null", "none", "nan", "\\n"})
GENDERS = frozenset({"male", "female"})
FLAG_COLUMNS = ("LAST_IS_AUTO_RENEW", "LAST_IS_CANCEL")
AMOUNT_COLUMNS = ("LAST_PAYMENT_PLAN_DAYS", "LAST_PLAN_LIST_PRICE", "LAST_ACTUAL_AMOUNT_PAID")

REPAIRS: tuple[str, ...] = (
    "bd_zero_nulled",
    "bd_out_of_range_nulled",
    "gender_missing_set_unknown",
    "gender_invalid_set_unknown",
    "city_invalid_nulled",
    "registration_date_invalid_nulled",
    "transaction_date_invalid_nulled",
    "expire_date_invalid_rebuilt",
    "expire_date_invalid_nulled",
    "expire_before_transaction_rebuilt",
    "negative_amount_nulled",
    "flag_invalid_nulled",
    "tx_first_date_invalid_nulled",
    "log_last_date_invalid_nulled",
    "negative_play_counts_clipped",
    "total_secs_invalid_rows_imputed",
    "total_secs_users_repaired",
    "duplicate_transactions_collapsed",
    "missing_logs_filled_zero",
    "missing_tx_history_filled_zero",
)
INFO: tuple[str, ...] = (
    "users_without_member_row",
    "users_without_transactions",
    "users_without_logs_90d",
    "cancel_expiring_before_transaction",
)


@dataclass
class CleanResult:
    """The outcome of cleaning one shard."""

    data: pd.DataFrame
    quarantine: pd.DataFrame
    report: dict[str, object] = field(default_factory=dict)


MALFORMED: tuple[str, ...] = ("too_many_fields", "too_few_fields", "bad_quoting")
"""Rejections of rows the CSV reader cannot split into the query's columns (quarantined with LINE, RAW)."""
LINE = "LINE"
RAW = "RAW"
MAX_RAW = 1000


@dataclass(frozen=True)
class Malformed:
    """A record that is not a row of the query's columns: its first line, its raw text, the reason."""

    line: int
    raw: str
    reason: str


@dataclass
class RawShard:
    """A shard read as strings: the well-formed rows (with their line numbers) and the malformed ones."""

    rows: pd.DataFrame
    lines: list[int]
    malformed: list[Malformed]


def _records(lines: list[str]) -> tuple[list[tuple[int, list[str]]], list[Malformed]]:
    """``(line, fields)`` of every record, and the records the CSV reader refuses (bad quoting). A bad
    quote that runs on over later lines costs only its first line: reading restarts after it."""
    records: list[tuple[int, list[str]]] = []
    bad: list[Malformed] = []
    base = 0
    while base < len(lines):
        reader = csv.reader((lines[k] for k in range(base, len(lines))), strict=True)
        prev = 0
        try:
            for fields in reader:
                if fields:  # a blank line is no record
                    records.append((base + prev + 1, fields))
                prev = reader.line_num
            break
        except csv.Error:
            start = base + prev + 1
            bad.append(Malformed(start, lines[start - 1].rstrip("\r\n")[:MAX_RAW], "bad_quoting"))
            base = start
    return records, bad


def _read_raw(path: Path) -> RawShard:
    """The CSV as strings, with column names (a headerless file gets the query's names by column count)
    and line numbers; rows with too many or too few fields, or bad quoting, are set apart as
    ``Malformed`` (``StageError`` only when no row at all is readable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise StageError(f"{path}: not UTF-8 text (byte {exc.start}); nothing in it is readable") from None
    text_lines = text.splitlines(keepends=True)
    records, malformed = _records(text_lines)
    if not records and not malformed:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in layout.columns(False)})
        return RawShard(empty, [], [])
    has_header = bool(records) and records[0][1][0].strip().upper() == layout.ID
    if has_header:
        header = [c.strip().upper() for c in records[0][1]]
        records = records[1:]
    else:
        counts = pd.Series([len(f) for _, f in records]).value_counts()
        widths = [len(layout.columns(w)) for w in (True, False)]
        common = [int(n) for n in counts.index if int(n) in widths]
        if not common:
            found = int(counts.index[0]) if len(counts) else 0
            raise StageError(
                f"{path}: no header row and {found} columns, which matches neither the train "
                f"({widths[0]}) nor the score ({widths[1]}) query"
            )
        header = layout.columns(common[0] == widths[0])
    width = len(header)
    good: list[list[str]] = []
    lines: list[int] = []
    for line, fields in records:
        if len(fields) == width:
            good.append(fields)
            lines.append(line)
        else:
            reason = "too_many_fields" if len(fields) > width else "too_few_fields"
            malformed.append(Malformed(line, text_lines[line - 1].rstrip("\r\n")[:MAX_RAW], reason))
    malformed.sort(key=lambda m: m.line)
    if not good and malformed:
        raise StageError(
            f"{path}: no readable row: all {len(malformed)} are malformed "
            f"(first at line {malformed[0].line}: {malformed[0].reason})"
        )
    rows = pd.DataFrame(good, columns=header, dtype=str) if good else pd.DataFrame(columns=header, dtype=str)
    return RawShard(rows, lines, malformed)


def _valid_dates(values: pd.Series, low: int = MIN_DATE, high: pd.Series | int | None = None) -> pd.Series:
    """True where a YYYYMMDD number is a real calendar date in [low, high]; False where null or not."""
    text = values.where((values >= 0) & (values < 1e9)).astype("Int64").astype("string")
    parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    ok = parsed.notna() & (values >= low)
    if high is not None:
        ok &= values <= high
    return ok.fillna(False).astype(bool)


def _yyyymmdd_plus_days(dates: pd.Series, days: pd.Series) -> pd.Series:
    """``dates`` (YYYYMMDD) plus ``days`` days, as YYYYMMDD floats (NaN where either is null)."""
    sane = dates.where((dates >= 0) & (dates < 1e9))
    parsed = pd.to_datetime(sane.astype("Int64").astype("string"), format="%Y%m%d", errors="coerce")
    moved = parsed + pd.to_timedelta(days, unit="D")
    return pd.to_numeric(moved.dt.strftime("%Y%m%d"), errors="coerce")


def _parse(raw: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Typed columns (floats for numbers, NaN for null) and the first rejection reason per row."""
    reason = pd.Series("", index=raw.index, dtype=object)
    msno = raw[layout.ID].astype(str).str.strip()
    reason[msno.str.lower().isin(NULL_TOKENS)] = "missing_msno"
    typed: dict[str, pd.Series] = {layout.ID: msno}
    for col in cols:
        if col == layout.ID:
            continue
        s = raw[col].astype(str).str.strip()
        null = s.str.lower().isin(NULL_TOKENS)
        if layout.kind(col) == "str":
            typed[col] = s.where(~null, None)
            continue
        num = pd.to_numeric(s.where(~null, None), errors="coerce").astype(float)
        bad = (num.isna() | ~np.isfinite(num.fillna(0.0))) & ~null
        if layout.kind(col) == "int":
            bad |= num.notna() & ((num % 1 != 0) | (num.abs() >= 2.0**62))
        reason[bad & (reason == "")] = f"unparseable_{col}"
        typed[col] = num.where(~bad)
    return pd.DataFrame(typed, index=raw.index), reason


def clean_frame(
    raw: pd.DataFrame,
    source: str,
    *,
    lines: list[int] | None = None,
    malformed: list[Malformed] | None = None,
) -> CleanResult:
    """Clean one shard given as strings; ``source`` names it in errors and in the report. ``lines``:
    the line number of each row (quarantined rows carry it); ``malformed``: the records that are not
    rows (quarantined and counted with their reason, line and raw text)."""
    malformed = malformed or []
    raw_cols = list(raw.columns)
    with_label = layout.LABEL in raw_cols
    cols = layout.columns(with_label)
    missing = [c for c in cols if c not in raw_cols]
    if missing:
        raise StageError(f"{source}: missing column {missing[0]} (expected the columns of the query)")
    t, reason = _parse(raw, cols)
    repairs = dict.fromkeys(REPAIRS, 0)
    info = dict.fromkeys(INFO, 0)

    if with_label:
        reason[(reason == "") & ~t[layout.LABEL].isin([0.0, 1.0])] = "invalid_label"
    reason[(reason == "") & ~_valid_dates(t["CUTOFF_DATE"])] = "invalid_cutoff_date"
    cutoff = t["CUTOFF_DATE"]

    # Latest transaction dates: an impossible transaction date is nulled; an expiry that is not a date or
    # lies before the transaction is rebuilt from the plan days, or the row is rejected if it cannot be.
    tx_date, exp_date, plan = (
        t["LAST_TRANSACTION_DATE"],
        t["LAST_MEMBERSHIP_EXPIRE_DATE"],
        t["LAST_PAYMENT_PLAN_DAYS"],
    )
    tx_ok = _valid_dates(tx_date, high=cutoff)
    exp_ok = _valid_dates(exp_date, high=cutoff + 200000)
    # A cancellation may close the membership at once (expiry before the transaction): that is data, not
    # dirt, and is never rebuilt from the plan days.
    cancel = (t["LAST_IS_CANCEL"] == 1).fillna(False)
    can_rebuild = tx_ok & ~cancel & ((plan > 0) & (plan <= MAX_PLAN_DAYS)).fillna(False)
    before = tx_ok & exp_ok & (exp_date < tx_date).fillna(False)
    backwards = before & ~cancel
    reason[(reason == "") & backwards & ~can_rebuild] = "expire_before_transaction"

    # Duplicates among the rows that passed: exact copies are removed, a conflicting copy is rejected.
    live = reason == ""
    exact_dup = raw[live].apply(lambda s: s.astype(str).str.strip()).duplicated(keep="first")
    dup = pd.Series(False, index=raw.index)
    dup[exact_dup.index] = exact_dup
    live &= ~dup
    conflict = t[live].duplicated(subset=[layout.ID], keep="first")
    reason[conflict[conflict].index] = "duplicate_msno_conflict"
    live = (reason == "") & ~dup

    df = t[live].copy()
    lv = live[live].index

    # Member attributes.
    info["users_without_member_row"] = int(
        df[["CITY", "BD", "REGISTERED_VIA", "REGISTRATION_INIT_TIME"]].isna().all(axis=1).sum()
    )
    bd = df["BD"]
    repairs["bd_zero_nulled"] = int((bd == 0).sum())
    out_of_range = bd.notna() & (bd != 0) & ((bd < 1) | (bd > 100))
    repairs["bd_out_of_range_nulled"] = int(out_of_range.sum())
    df.loc[(bd == 0) | out_of_range, "BD"] = np.nan
    gender = df["GENDER"].astype("string").str.lower()
    gmissing = gender.isna()
    ginvalid = ~gmissing & ~gender.isin(GENDERS)
    repairs["gender_missing_set_unknown"] = int(gmissing.sum())
    repairs["gender_invalid_set_unknown"] = int(ginvalid.sum())
    df["GENDER"] = gender.where(~(gmissing | ginvalid), "unknown")
    city_bad = df["CITY"].notna() & (df["CITY"] < 1)
    repairs["city_invalid_nulled"] = int(city_bad.sum())
    df.loc[city_bad, "CITY"] = np.nan
    reg = df["REGISTRATION_INIT_TIME"]
    reg_bad = reg.notna() & ~_valid_dates(reg, high=df["CUTOFF_DATE"])
    repairs["registration_date_invalid_nulled"] = int(reg_bad.sum())
    df.loc[reg_bad, "REGISTRATION_INIT_TIME"] = np.nan

    # Latest transaction.
    info["users_without_transactions"] = int(df["TX_COUNT"].isna().sum())
    txd = df["LAST_TRANSACTION_DATE"]
    txd_bad = txd.notna() & ~tx_ok[lv]
    repairs["transaction_date_invalid_nulled"] = int(txd_bad.sum())
    df.loc[txd_bad, "LAST_TRANSACTION_DATE"] = np.nan
    for col in AMOUNT_COLUMNS:
        neg = df[col] < 0
        repairs["negative_amount_nulled"] += int(neg.sum())
        df.loc[neg, col] = np.nan
    for col in FLAG_COLUMNS:
        bad_flag = df[col].notna() & ~df[col].isin([0.0, 1.0])
        repairs["flag_invalid_nulled"] += int(bad_flag.sum())
        df.loc[bad_flag, col] = np.nan
    exp = df["LAST_MEMBERSHIP_EXPIRE_DATE"]
    rebuild_ok = can_rebuild[lv]
    rebuilt = _yyyymmdd_plus_days(df["LAST_TRANSACTION_DATE"], df["LAST_PAYMENT_PLAN_DAYS"])
    exp_bad = exp.notna() & ~exp_ok[lv]
    back = backwards[lv]
    info["cancel_expiring_before_transaction"] = int((before & cancel)[lv].sum())
    repairs["expire_date_invalid_rebuilt"] = int((exp_bad & rebuild_ok).sum())
    repairs["expire_date_invalid_nulled"] = int((exp_bad & ~rebuild_ok).sum())
    repairs["expire_before_transaction_rebuilt"] = int(back.sum())
    df.loc[(exp_bad | back) & rebuild_ok, "LAST_MEMBERSHIP_EXPIRE_DATE"] = rebuilt
    df.loc[exp_bad & ~rebuild_ok, "LAST_MEMBERSHIP_EXPIRE_DATE"] = np.nan

    # Transaction history.
    first = df["TX_FIRST_DATE"]
    first_bad = first.notna() & ~_valid_dates(first, high=df["CUTOFF_DATE"])
    repairs["tx_first_date_invalid_nulled"] = int(first_bad.sum())
    df.loc[first_bad, "TX_FIRST_DATE"] = np.nan
    repairs["duplicate_transactions_collapsed"] = int(df["TX_DUPLICATES"].fillna(0).clip(lower=0).sum())
    no_tx = df["TX_COUNT"].isna()
    repairs["missing_tx_history_filled_zero"] = int(no_tx.sum())
    for col in ("TX_COUNT", "TX_CANCELS", "TX_DISCOUNTED", "TX_DUPLICATES"):
        df.loc[no_tx, col] = 0.0
    # no renewal after an earlier expiry (one transaction, or none) means zero renewals, not unknown
    for col in ("TX_RENEWALS", "TX_LATE_RENEWALS", "TX_LAPSES"):
        df[col] = df[col].fillna(0.0)

    # Listening windows.
    last = df["LOG_LAST_DATE"]
    last_bad = last.notna() & ~_valid_dates(last, high=df["CUTOFF_DATE"])
    repairs["log_last_date_invalid_nulled"] = int(last_bad.sum())
    df.loc[last_bad, "LOG_LAST_DATE"] = np.nan
    window_cols = [c for n in layout.WINDOWS for c in layout.window_columns(n)]
    no_logs = df[window_cols].isna().all(axis=1)
    info["users_without_logs_90d"] = int(no_logs.sum())
    repairs["missing_logs_filled_zero"] = int(no_logs.sum())
    df[window_cols] = df[window_cols].fillna(0.0)
    play_cols = [f"{c}_{n}D" for n in layout.WINDOWS for c in layout.PLAY_COLUMNS]
    negative = (df[play_cols] < 0).any(axis=1)
    repairs["negative_play_counts_clipped"] = int(negative.sum())
    df[play_cols] = df[play_cols].clip(lower=0.0)
    repaired_users = pd.Series(False, index=df.index)
    for n in layout.WINDOWS:
        bad, days, secs = df[f"BAD_SECS_{n}D"], df[f"DAYS_{n}D"], df[f"SECS_{n}D"]
        valid_rows = (days - bad).clip(lower=0)
        per_row = (secs / valid_rows.where(valid_rows > 0)).fillna(0.0).clip(upper=SECS_PER_DAY)
        df[f"SECS_{n}D"] = secs.clip(lower=0.0) + bad.clip(lower=0) * per_row
        repaired_users |= bad > 0
    repairs["total_secs_invalid_rows_imputed"] = int(df["BAD_SECS_90D"].clip(lower=0).sum())
    repairs["total_secs_users_repaired"] = int(repaired_users.sum())

    out = pd.DataFrame(index=df.index)
    for col in cols:
        k = layout.kind(col)
        if k == "int":
            out[col] = df[col].round().astype("Int64")
        elif k == "float":
            out[col] = df[col].astype(float)
        else:
            out[col] = df[col].astype("string")
    quarantine = raw[reason != ""].copy()
    quarantine[REASON] = reason[reason != ""]
    quarantine[LINE] = pd.Series(lines, index=raw.index, dtype="Int64")[reason != ""] if lines else pd.NA
    quarantine[RAW] = ""
    if malformed:
        bad = pd.DataFrame(
            {
                **{
                    c: [m.raw.split(",", 1)[0] if c == layout.ID else "" for m in malformed] for c in raw_cols
                },
                REASON: [m.reason for m in malformed],
                LINE: pd.array([m.line for m in malformed], dtype="Int64"),
                RAW: [m.raw for m in malformed],
            }
        )
        quarantine = pd.concat([quarantine, bad], ignore_index=True).sort_values(LINE, kind="stable")
    rejections: dict[str, int] = {k: int(v) for k, v in sorted(quarantine[REASON].value_counts().items())}
    report: dict[str, object] = {
        "input": source,
        "rows_in": int(len(raw)) + len(malformed),
        "rows_out": int(len(out)),
        "quarantined": int(len(quarantine)),
        "malformed_lines": [m.line for m in malformed][:100],
        "duplicates_removed": int(dup.sum()),
        "has_label": with_label,
        "repairs": repairs,
        "rejections": rejections,
        "info": info,
        "ignored_columns": [c for c in raw_cols if c not in cols],
    }
    assert report["rows_in"] == report["rows_out"] + report["quarantined"] + report["duplicates_removed"]
    return CleanResult(
        data=out.reset_index(drop=True), quarantine=quarantine.reset_index(drop=True), report=report
    )


def clean_file(path: Path, out_dir: Path) -> dict[str, object]:
    """Clean one shard file and write its data, quarantine and report files; returns the report."""
    shard = path.stem
    shard_in = _read_raw(path)
    result = clean_frame(shard_in.rows, path.name, lines=shard_in.lines, malformed=shard_in.malformed)
    for sub, frame in (("data", result.data), ("quarantine", result.quarantine)):
        target = out_dir / sub / f"{shard}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(target, index=False, lineterminator="\n")
    write_json(out_dir / "report" / f"{shard}.json", result.report)
    return result.report


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--input", "input_dir", required=True, help="Input directory of CSV shards, e.g. /pfs/data.")
@click.option("--out", "out_dir", required=True, help="Output directory, e.g. /pfs/out.")
def cli(input_dir: str, out_dir: str) -> None:
    """Clean every CSV shard of the input: data/, quarantine/ (with REASON) and report/ per shard."""

    def body() -> None:
        inputs = csv_inputs(require_dir(input_dir, "input"))
        if not inputs:
            raise StageError(f"no CSV file under {input_dir}")
        for path in inputs:
            rep = clean_file(path, Path(out_dir))
            log(
                STAGE,
                f"{path.name}: {rep['rows_in']} in, {rep['rows_out']} out, {rep['quarantined']} quarantined, "
                f"{rep['duplicates_removed']} duplicates removed",
            )

    run_stage(STAGE, body)


def main() -> None:
    """Console-script entry point (once per datum under ``datumBatching``)."""
    stage_main(cli, STAGE)
