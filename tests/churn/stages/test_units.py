"""Unit tests of the stage logic on small files: sharding, queries, clean, features, predict refusal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn.stages import layout
from churn.stages.clean import clean_file
from churn.stages.common import StageError
from churn.stages.features import FEATURE_NAMES, SPEC, build_features, read_clean, write_features
from churn.stages.queries import write_query
from churn.stages.sharding import shard_name, shard_of


def good_row(msno: str, label: int | None = 0, **over: object) -> dict[str, object]:
    """A plausible query-result row (train layout when ``label`` is not None)."""
    row: dict[str, object] = dict.fromkeys(layout.columns(label is not None), "0")
    row.update(
        MSNO=msno,
        CUTOFF_DATE=20170228,
        CITY=5,
        BD=31,
        GENDER="female",
        REGISTERED_VIA=7,
        REGISTRATION_INIT_TIME=20150301,
        LAST_PAYMENT_METHOD_ID=41,
        LAST_PAYMENT_PLAN_DAYS=30,
        LAST_PLAN_LIST_PRICE=149,
        LAST_ACTUAL_AMOUNT_PAID=149,
        LAST_IS_AUTO_RENEW=1,
        LAST_TRANSACTION_DATE=20170210,
        LAST_MEMBERSHIP_EXPIRE_DATE=20170312,
        LAST_IS_CANCEL=0,
        TX_COUNT=5,
        TX_AUTO_RENEW_SHARE=1.0,
        TX_FIRST_DATE=20160910,
        LOG_LAST_DATE=20170227,
        SECS_30D=3600.0,
        DAYS_30D=4,
        NUM_100_30D=20,
    )
    if label is not None:
        row["IS_CHURN"] = label
    row.update(over)
    return row


def write_csv(
    path: Path, rows: list[dict[str, object]], with_label: bool = True, header: bool = True
) -> Path:
    cols = layout.columns(with_label)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if header:
            w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    return path


def read_report(out: Path, shard: str) -> dict:
    return json.loads((out / "report" / f"{shard}.json").read_text())


# ------------------------------------------------------------------ sharding, queries


def test_shard_of_is_md5_big_endian_mod_n() -> None:
    import hashlib

    h = int.from_bytes(hashlib.md5(b"user-1").digest()[:8], "big")
    assert shard_of("user-1", 8) == h % 8
    assert shard_of("user-1", 32) == h % 32
    assert shard_name(3) == "shard-03"
    counts = np.bincount([shard_of(f"u{i}", 8) for i in range(4000)], minlength=8)
    assert counts.min() > 400  # spread, not all in one shard


def test_queries_writes_tick_comment_and_query(tmp_path: Path) -> None:
    ticks = tmp_path / "in"
    ticks.mkdir()
    (ticks / "2026-11-24T04:00:00Z").write_text("")
    (ticks / "2026-11-25T04:00:00Z").write_text("")
    path = write_query(ticks, "SELECT 1;\n\n", tmp_path / "out")
    assert path.name == "0000"
    assert path.read_text() == "-- 2026-11-25T04:00:00Z\nSELECT 1;\n"


def test_queries_errors(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    with pytest.raises(StageError, match="no cron tick"):
        write_query(tmp_path / "in", "SELECT 1", tmp_path / "out")
    (tmp_path / "in" / "t").write_text("")
    with pytest.raises(StageError, match="empty"):
        write_query(tmp_path / "in", "  ", tmp_path / "out")


# ------------------------------------------------------------------ clean


def test_clean_repairs_and_quarantines_dirty_rows(tmp_path: Path) -> None:
    rows = [
        good_row("a"),
        good_row("b", BD=0, GENDER=""),  # BD 0 -> null, gender -> unknown
        good_row("c", BD=-7000, REGISTRATION_INIT_TIME=20161301),  # BD outlier, impossible date
        good_row("d", SECS_30D=1000.0, DAYS_30D=3, BAD_SECS_30D=1, BAD_SECS_90D=1),  # invalid secs row
        good_row("e", LAST_MEMBERSHIP_EXPIRE_DATE=20170101),  # expire < tx, rebuilt from 30 plan days
        good_row("f", LAST_MEMBERSHIP_EXPIRE_DATE=20170101, LAST_PAYMENT_PLAN_DAYS=0),  # unrepairable
        good_row("g", LAST_MEMBERSHIP_EXPIRE_DATE=20170201, LAST_IS_CANCEL=1),  # a cancel: kept as is
        good_row("", label=1),  # missing MSNO
        good_row("h", CITY="abc"),  # unparseable
        good_row("i", label=1, IS_CHURN=3),  # bad label
        good_row("a"),  # exact duplicate of a
        good_row("b", BD=55),  # conflicting duplicate
        good_row("j", LAST_MEMBERSHIP_EXPIRE_DATE=19700101),  # epoch expiry, rebuilt
        good_row("k", **dict.fromkeys(layout.LOG_COLUMNS)),  # no logs in 90 days
    ]
    path = write_csv(tmp_path / "in" / "shard-00.csv", rows)
    out = tmp_path / "out"
    rep = clean_file(path, out)
    assert rep["rows_in"] == len(rows)
    assert rep["rows_in"] == rep["rows_out"] + rep["quarantined"] + rep["duplicates_removed"]
    assert rep["duplicates_removed"] == 1
    assert rep["rejections"] == {
        "duplicate_msno_conflict": 1,
        "expire_before_transaction": 1,
        "invalid_label": 1,
        "missing_msno": 1,
        "unparseable_CITY": 1,
    }
    r = rep["repairs"]
    assert r["bd_zero_nulled"] == 1 and r["bd_out_of_range_nulled"] == 1
    assert r["gender_missing_set_unknown"] == 1
    assert r["registration_date_invalid_nulled"] == 1
    assert r["expire_before_transaction_rebuilt"] == 1 and r["expire_date_invalid_rebuilt"] == 1
    assert r["total_secs_invalid_rows_imputed"] == 1 and r["missing_logs_filled_zero"] == 1
    assert rep["info"]["cancel_expiring_before_transaction"] == 1

    data = pd.read_csv(out / "data" / "shard-00.csv", dtype={"MSNO": str})
    assert list(data.columns) == layout.columns(True)
    by = data.set_index("MSNO")
    assert sorted(by.index) == ["a", "b", "c", "d", "e", "g", "j", "k"]
    assert pd.isna(by.loc["b", "BD"]) and by.loc["b", "GENDER"] == "unknown"
    assert pd.isna(by.loc["c", "BD"]) and pd.isna(by.loc["c", "REGISTRATION_INIT_TIME"])
    assert by.loc["d", "SECS_30D"] == pytest.approx(1500.0)  # 1000 s over 2 valid days, +1 imputed day
    assert by.loc["e", "LAST_MEMBERSHIP_EXPIRE_DATE"] == 20170312  # 20170210 + 30 days
    assert by.loc["g", "LAST_MEMBERSHIP_EXPIRE_DATE"] == 20170201
    assert by.loc["k", "SECS_30D"] == 0.0

    q = pd.read_csv(out / "quarantine" / "shard-00.csv", dtype=str, keep_default_na=False)
    assert list(q.columns) == [*layout.columns(True), "REASON", "LINE", "RAW"]
    assert q.loc[q["MSNO"] == "h", "LINE"].item() == "10"  # header is line 1, h the 9th row
    assert dict(zip(q["MSNO"], q["REASON"], strict=True)) == {
        "f": "expire_before_transaction",
        "": "missing_msno",
        "h": "unparseable_CITY",
        "i": "invalid_label",
        "b": "duplicate_msno_conflict",
    }
    assert q.loc[q["MSNO"] == "h", "CITY"].item() == "abc"  # raw value kept


def test_clean_shard_of_only_bad_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in" / "shard-01.csv", [good_row("", 0), good_row("x", 0, BD="old")])
    rep = clean_file(path, tmp_path / "out")
    assert (rep["rows_in"], rep["rows_out"], rep["quarantined"]) == (2, 0, 2)
    data = (tmp_path / "out" / "data" / "shard-01.csv").read_text().splitlines()
    assert data == [",".join(layout.columns(True))]


def test_clean_header_only_and_empty_file(tmp_path: Path) -> None:
    header_only = write_csv(tmp_path / "in" / "shard-02.csv", [], with_label=False)
    rep = clean_file(header_only, tmp_path / "out")
    assert rep["rows_in"] == rep["rows_out"] == rep["quarantined"] == 0 and not rep["has_label"]
    assert (tmp_path / "out" / "data" / "shard-02.csv").read_text().startswith("MSNO,CUTOFF_DATE,")
    empty = tmp_path / "in" / "shard-03.csv"
    empty.write_text("")
    rep = clean_file(empty, tmp_path / "out")
    assert rep["rows_out"] == 0
    assert (tmp_path / "out" / "quarantine" / "shard-03.csv").read_text().strip().endswith("REASON,LINE,RAW")


def test_clean_headerless_csv_and_missing_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in" / "shard-04.csv", [good_row("a", None)], with_label=False, header=False)
    rep = clean_file(path, tmp_path / "out")
    assert rep["rows_out"] == 1 and not rep["has_label"]
    bad = tmp_path / "in" / "shard-05.csv"
    bad.write_text("MSNO,IS_CHURN\na,1\n")
    with pytest.raises(StageError, match=r"shard-05.csv: missing column CUTOFF_DATE"):
        clean_file(bad, tmp_path / "out")


def test_clean_quarantines_malformed_rows_with_their_line_numbers(tmp_path: Path) -> None:
    """An over-wide row, a short row and a bad quote are quarantined with their line numbers and
    counted; the rest of the shard (including the line after an unterminated quote) is cleaned."""
    path = write_csv(tmp_path / "in" / "shard-06.csv", [good_row(m) for m in "abcdef"])
    lines = path.read_text().splitlines()  # header, a..f at lines 2..7
    lines[2] = lines[2] + ",surplus"  # b: one field too many
    lines[3] = ",".join(lines[3].split(",")[:5])  # c: too few
    lines[4] = lines[4].replace(",", ',"oops', 1)  # d: a quote that never closes (runs on to the end)
    path.write_text("\n".join(lines) + "\n")
    rep = clean_file(path, tmp_path / "out")
    assert rep["rows_in"] == 6 and rep["rows_out"] == 3 and rep["quarantined"] == 3
    assert rep["rows_in"] == rep["rows_out"] + rep["quarantined"] + rep["duplicates_removed"]
    assert rep["rejections"] == {"bad_quoting": 1, "too_few_fields": 1, "too_many_fields": 1}
    assert rep["malformed_lines"] == [3, 4, 5]
    data = pd.read_csv(tmp_path / "out" / "data" / "shard-06.csv", dtype={"MSNO": str})
    assert sorted(data["MSNO"]) == ["a", "e", "f"]
    q = pd.read_csv(tmp_path / "out" / "quarantine" / "shard-06.csv", dtype=str, keep_default_na=False)
    assert list(zip(q["LINE"], q["REASON"], q["MSNO"], strict=True)) == [
        ("3", "too_many_fields", "b"),
        ("4", "too_few_fields", "c"),
        ("5", "bad_quoting", "d"),
    ]
    assert q.loc[0, "RAW"] == lines[2] and q.loc[0, "RAW"].endswith(",surplus")


def test_clean_fails_a_shard_only_when_nothing_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "in" / "shard-07.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ",".join(layout.columns(True))
    path.write_text(f'{header}\na,1\nb,"2\n')
    with pytest.raises(
        StageError, match=r"shard-07.csv: no readable row: all 2 are malformed \(first at line 2"
    ):
        clean_file(path, tmp_path / "out")
    path.write_bytes(header.encode() + b"\n\xff\xfe,1\n")
    with pytest.raises(StageError, match=r"shard-07.csv: not UTF-8 text"):
        clean_file(path, tmp_path / "out")


# ------------------------------------------------------------------ features


def test_features_same_code_path_with_and_without_label(tmp_path: Path) -> None:
    rows = [good_row("a", 1), good_row("b", 0, GENDER="male", BD=17, LOG_LAST_DATE=20170218)]
    clean_file(write_csv(tmp_path / "in" / "s.csv", rows), tmp_path / "clean")
    train = build_features(read_clean(tmp_path / "clean" / "data" / "s.csv"))
    score_rows = [{k: v for k, v in r.items() if k != "IS_CHURN"} for r in rows]
    clean_file(write_csv(tmp_path / "in2" / "s.csv", score_rows, with_label=False), tmp_path / "clean2")
    score = build_features(read_clean(tmp_path / "clean2" / "data" / "s.csv"))
    assert list(train.columns) == ["MSNO", *FEATURE_NAMES, "IS_CHURN"]
    assert list(score.columns) == ["MSNO", *FEATURE_NAMES]
    pd.testing.assert_frame_equal(train.drop(columns="IS_CHURN"), score)
    b = train.set_index("MSNO").loc["b"]
    assert b["days_since_last_listen"] == 10 and b["days_to_expiry"] == 12
    assert b["gender"] == 1 and b["age_band"] == 1 and b["completion_ratio_30"] == 1.0


def test_features_empty_shard_and_spec(tmp_path: Path) -> None:
    clean_file(write_csv(tmp_path / "in" / "shard-00.csv", [], with_label=False), tmp_path / "clean")
    frame = build_features(read_clean(tmp_path / "clean" / "data" / "shard-00.csv"))
    write_features(frame, tmp_path / "f" / "shard-00")
    table = pd.read_parquet(tmp_path / "f" / "shard-00" / "features.parquet")
    assert len(table) == 0 and list(table.columns) == ["MSNO", *FEATURE_NAMES]
    spec = json.loads((tmp_path / "f" / "shard-00" / "feature_spec.json").read_text())
    assert spec["version"] == SPEC["version"] and [f["name"] for f in spec["features"]] == list(FEATURE_NAMES)


def test_features_missing_input_names_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_clean(tmp_path / "nope.csv")
    bad = tmp_path / "x.csv"
    bad.write_text("MSNO,CUTOFF_DATE\na,20170228\n")
    with pytest.raises(StageError, match="x.csv: missing column CITY"):
        read_clean(bad)
