"""The synthetic KKBox generator: determinism, churn rate, label definition, dirt, scale shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churn.warehouse import TABLES, connect
from churn.warehouse.generate import BLOCK, iter_chunks, seed_warehouse


def _dataset(members: int, seed: int, chunk_members: int = 50_000) -> dict[str, pd.DataFrame]:
    parts: dict[str, list[pd.DataFrame]] = {}
    for _count, frames in iter_chunks(members, seed, chunk_members):
        for name, frame in frames.items():
            parts.setdefault(name, []).append(frame)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return _dataset(5000, 42)


def test_columns_follow_the_contract(data: dict[str, pd.DataFrame]) -> None:
    for name, frame in data.items():
        assert list(frame.columns) == [c for c, _ in TABLES[name]]
        assert len(frame) > 0


def test_deterministic_and_independent_of_chunk_size() -> None:
    a = _dataset(2 * BLOCK + 100, 7, chunk_members=BLOCK)
    b = _dataset(2 * BLOCK + 100, 7, chunk_members=10 * BLOCK)
    c = _dataset(2 * BLOCK + 100, 8)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["MEMBERS"]["MSNO"].isin(c["MEMBERS"]["MSNO"]).any()
    assert not a["TRANSACTIONS"].equals(c["TRANSACTIONS"])


def test_seeding_twice_gives_identical_tables(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("CHURN_WAREHOUSE_URL", raising=False)

    def dump(seed: int) -> dict[str, pd.DataFrame]:
        with connect() as conn:
            seed_warehouse(conn, 2000, seed)
            out = {}
            cur = conn.cursor()
            for table in ("MEMBERS", "TRANSACTIONS", "USER_LOGS", "TRAIN", "SCORE"):
                cols = ", ".join(c for c, _ in TABLES[table])
                cur.execute(f"SELECT {cols} FROM {table} ORDER BY {cols}")
                out[table] = cur.fetch_pandas_all()
            return out

    first, again, other = dump(5), dump(5), dump(6)
    for table in first:
        pd.testing.assert_frame_equal(first[table], again[table])
        assert not first[table].equals(other[table])


def test_churn_rate_near_nine_percent(data: dict[str, pd.DataFrame]) -> None:
    train = data["TRAIN"]
    assert 0.06 <= train["IS_CHURN"].mean() <= 0.13
    assert 0.25 <= len(train) / 5000 <= 0.5
    assert 0.25 <= len(data["SCORE"]) / 5000 <= 0.5
    assert train["MSNO"].is_unique and data["SCORE"]["MSNO"].is_unique


def test_labels_follow_the_expiry_windows(data: dict[str, pd.DataFrame]) -> None:
    tx = data["TRANSACTIONS"]
    ok = (tx["MEMBERSHIP_EXPIRE_DATE"] > 20150000) & (tx["TRANSACTION_DATE"] % 10000 <= 1231)
    clean = tx[ok & (tx["IS_CANCEL"] == 0)]
    asof_train = clean[clean["TRANSACTION_DATE"] <= 20170228].groupby("MSNO")["MEMBERSHIP_EXPIRE_DATE"].max()
    exp = asof_train.reindex(data["TRAIN"]["MSNO"])
    # (dirt can hide a member's latest row, so allow a sliver outside the window)
    assert exp.between(20170301, 20170331).mean() > 0.97
    asof_score = clean[clean["TRANSACTION_DATE"] <= 20170331].groupby("MSNO")["MEMBERSHIP_EXPIRE_DATE"].max()
    assert asof_score.reindex(data["SCORE"]["MSNO"]).between(20170401, 20170430).mean() > 0.97
    # no data after the snapshot (impossible dates such as 20171308 aside)
    dates = tx["TRANSACTION_DATE"]
    possible = dates[pd.to_datetime(dates.astype(str), format="%Y%m%d", errors="coerce").notna()]
    assert possible.max() <= 20170331
    assert data["USER_LOGS"]["DATE"].between(20161201, 20170331).all()


def test_behaviour_separates_churners(data: dict[str, pd.DataFrame]) -> None:
    tx = data["TRANSACTIONS"]
    last = (
        tx[tx["TRANSACTION_DATE"] <= 20170228]
        .sort_values(["MSNO", "TRANSACTION_DATE", "MEMBERSHIP_EXPIRE_DATE"])
        .groupby("MSNO")
        .tail(1)
        .set_index("MSNO")
    )
    train = data["TRAIN"].set_index("MSNO").join(last[["IS_AUTO_RENEW", "IS_CANCEL"]])
    by_auto = train.groupby("IS_AUTO_RENEW")["IS_CHURN"].mean()
    assert by_auto[0] > 2 * by_auto[1]
    logs = data["USER_LOGS"]
    recent = logs[logs["DATE"].between(20170201, 20170228)].groupby("MSNO").size()
    active = train.join(recent.rename("days")).fillna({"days": 0})
    churners, stayers = (
        active[active["IS_CHURN"] == 1]["days"].mean(),
        active[active["IS_CHURN"] == 0]["days"].mean(),
    )
    assert churners < stayers  # listening fades before churn


def test_every_kind_of_dirt_is_present(data: dict[str, pd.DataFrame]) -> None:
    m, tx, logs = data["MEMBERS"], data["TRANSACTIONS"], data["USER_LOGS"]
    assert ((m["BD"] < 0) | (m["BD"] > 100)).any()
    assert 0.4 < (m["BD"] == 0).mean() < 0.8
    assert 0.55 < m["GENDER"].isna().mean() < 0.75
    month, dom = m["REGISTRATION_INIT_TIME"] // 100 % 100, m["REGISTRATION_INIT_TIME"] % 100

    def impossible(dates: pd.Series) -> pd.Series:
        parsed = pd.to_datetime(dates.astype(str), format="%Y%m%d", errors="coerce")
        return parsed.isna()

    assert impossible(m["REGISTRATION_INIT_TIME"]).any() or ((month > 12) | (dom > 31)).any()
    assert impossible(tx["TRANSACTION_DATE"]).any()
    assert tx.duplicated().any()
    assert (tx["MEMBERSHIP_EXPIRE_DATE"] < tx["TRANSACTION_DATE"]).any()
    assert (
        (tx["PAYMENT_PLAN_DAYS"] == 0) & (tx["PLAN_LIST_PRICE"] == 0) & (tx["ACTUAL_AMOUNT_PAID"] == 0)
    ).any()
    assert (tx["ACTUAL_AMOUNT_PAID"] < tx["PLAN_LIST_PRICE"]).any()  # discounts
    assert (logs["TOTAL_SECS"] < 0).any() and (logs["TOTAL_SECS"] > 86400).any()
    members = set(m["MSNO"])
    assert not set(logs["MSNO"]).issubset(members)  # logs without a member row
    assert members - set(logs["MSNO"])  # member rows without logs
    assert (logs["NUM_UNQ"] >= 1).all() and (
        logs[["NUM_25", "NUM_50", "NUM_75", "NUM_985", "NUM_100"]] >= 0
    ).all().all()


def test_scale_shape(data: dict[str, pd.DataFrame]) -> None:
    per_member = len(data["USER_LOGS"]) / 5000
    assert 24 <= per_member <= 38
    assert 4 <= len(data["TRANSACTIONS"]) / 5000 <= 14
    assert set(np.unique(data["TRANSACTIONS"]["PAYMENT_PLAN_DAYS"])) >= {0, 7, 30, 90, 180, 410}


# sha256 of each table of (5000 members, seed 42) as CSV, computed before CHURN_OUTCOMES existed: the
# outcomes draw from a stream of their own, so the tables every pipeline reads keep their bytes
TABLE_DIGESTS = {
    "MEMBERS": "049c0ec42816fa780cd735dc8c0b51acce3e8750beec9e59da36896bb54a69e5",
    "TRANSACTIONS": "77114c225c54137893a4f4d2ded9f4090ab00025193b0429f5fac8efd0991170",
    "USER_LOGS": "d6176f4481be74db7ab0d207f449ff56b50e918f2c2724bf73852cfce8333d6c",
    "TRAIN": "fd742307d09a9a62e00778fb2a87503f5130ae909236bce1a003e019ca00d0b9",
    "SCORE": "4920913823ff1813faf7b9a8b106224a53fc1b760fc5d28b67564ecbc5ef629d",
}


def test_outcomes_do_not_change_the_existing_tables(data: dict[str, pd.DataFrame]) -> None:
    import hashlib

    for name, digest in TABLE_DIGESTS.items():
        text = data[name].to_csv(index=False, lineterminator="\n")
        assert hashlib.sha256(text.encode()).hexdigest() == digest, name


def test_outcome_stream_is_independent_of_the_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    from churn.warehouse import generate

    a = generate.generate_block(5, 0, 600)
    original = generate._Block.__init__

    def other_outcomes(self: generate._Block, seed: int, index: int, n: int) -> None:
        original(self, seed, index, n)
        self.outcome_rng = np.random.default_rng(12345)

    monkeypatch.setattr(generate._Block, "__init__", other_outcomes)
    b = generate.generate_block(5, 0, 600)
    for name in ("MEMBERS", "TRANSACTIONS", "USER_LOGS", "TRAIN", "SCORE"):
        pd.testing.assert_frame_equal(a[name], b[name])
    assert len(b["CHURN_OUTCOMES"]) == len(b["SCORE"])


def test_outcomes_cover_score_and_follow_the_label_definition(data: dict[str, pd.DataFrame]) -> None:
    outcomes, score = data["CHURN_OUTCOMES"], data["SCORE"]
    assert list(outcomes["MSNO"]) == list(score["MSNO"])  # one outcome per SCORE member, same order
    assert set(outcomes["IS_CHURN"]) == {0, 1}
    assert 0.06 < outcomes["IS_CHURN"].mean() < 0.14  # about TRAIN's churn rate
    # known 30 days after an April expiry
    assert outcomes["KNOWN_AT"].between(20170501, 20170530).all()
