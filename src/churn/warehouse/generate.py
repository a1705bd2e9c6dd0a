"""Synthetic KKBox churn data (MEMBERS, TRANSACTIONS, USER_LOGS, TRAIN, SCORE, and on request the SCORE
members' outcomes, CHURN_OUTCOMES), simulated, not planted.

The members and their subscriptions are simulated in ``churn.warehouse.simulate``; this module derives
the daily listening logs from them, assembles the five tables as of 2017-03-31 (transactions and logs
dated up to then), injects the real data's dirt at realistic rates, and streams and bulk-loads the result.

Determinism: members come in fixed blocks of ``BLOCK`` members; block ``b`` draws from
``numpy.random.default_rng([seed, b])``, so the output depends on (members, seed) only, never on the
chunk size used to stream it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn.warehouse.schema import TABLES
from churn.warehouse.simulate import (
    LOG_START,
    MONTH0,
    N_MONTHS,
    SIM_END,
    SNAPSHOT,
    MemberBlock,
    impossible_dates,
    pick,
    sigmoid,
    to_yyyymmdd,
)

BLOCK = 2048


class _Block(MemberBlock):
    """One simulated block of members, with its listening logs and its tables (the random stream is
    shared: simulation, logs and dirt draw from it in that order)."""

    # ------------------------------------------------------------------ listening
    def logs(self, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """USER_LOGS columns: a row per member and day listened, driven by membership and satisfaction."""
        rng, n = self.rng, self.n
        n_days = SNAPSHOT - LOG_START + 1
        # covered[i, d]: member i holds a membership on day d
        sel = (t["cancel"] == 0) & (t["expire"] >= LOG_START) & (t["date"] <= SNAPSHOT)
        diff = np.zeros((n, n_days + 1), np.int32)
        lo = np.maximum(t["date"][sel], LOG_START) - LOG_START
        hi = np.minimum(t["expire"][sel], SNAPSHOT) - LOG_START + 1
        ok = hi > lo
        np.add.at(diff, (t["member"][sel][ok], lo[ok]), 1)
        np.add.at(diff, (t["member"][sel][ok], hi[ok]), -1)
        covered = np.cumsum(diff[:, :n_days], axis=1) > 0
        first = np.full(n, SIM_END + 1, np.int64)
        np.minimum.at(first, t["member"], t["date"])
        days = np.arange(LOG_START, SNAPSHOT + 1)
        started = days[None, :] >= first[:, None]
        # daily satisfaction: monthly values interpolated between mid-months
        mid = (days.astype("datetime64[D]").astype("datetime64[M]") - MONTH0).astype(np.int64)
        dom = (days.astype("datetime64[D]") - days.astype("datetime64[D]").astype("datetime64[M]")).astype(
            np.int64
        )
        pos = mid + (dom - 15) / 30.0
        m0 = np.clip(np.floor(pos).astype(np.int64), 0, N_MONTHS - 1)
        m1 = np.clip(m0 + 1, 0, N_MONTHS - 1)
        frac = pos - np.floor(pos)
        s = self.sat[:, m0] * (1 - frac) + self.sat[:, m1] * frac
        p = sigmoid(self.activity[:, None] + 0.9 * s) * np.where(covered, 1.0, np.where(started, 0.1, 0.0))
        p[self.no_logs] = 0.0
        active = rng.random(p.shape) < p
        member, d = np.nonzero(active)
        s_act = s[member, d]
        total = rng.poisson(np.exp(2.8 + 0.35 * s_act + self.volume[member])) + 1
        n100 = rng.binomial(total, sigmoid(0.5 + 0.6 * s_act))
        rest = total - n100
        n25 = rng.binomial(rest, 0.55)
        rest = rest - n25
        n50 = rng.binomial(rest, 0.35)
        rest = rest - n50
        n75 = rng.binomial(rest, 0.4)
        n985 = rest - n75
        unq = np.maximum(rng.binomial(total, 0.82), 1)
        secs = (
            240.0
            * (0.12 * n25 + 0.37 * n50 + 0.62 * n75 + 0.92 * n985 + 1.0 * n100)
            * rng.lognormal(0, 0.12, total.size)
        )
        k = total.size
        neg = pick(rng, k, 0.0005)
        huge = pick(rng, k, 0.0005) & ~neg
        secs = np.where(neg, -rng.uniform(1e3, 9.2e15, k), secs)
        secs = np.where(huge, rng.uniform(86401, 1e13, k), secs)
        return {
            "MSNO": self.msno[member],
            "DATE": to_yyyymmdd(days[d]),
            "NUM_25": n25,
            "NUM_50": n50,
            "NUM_75": n75,
            "NUM_985": n985,
            "NUM_100": n100,
            "NUM_UNQ": unq,
            "TOTAL_SECS": np.round(secs, 3),
        }

    # ------------------------------------------------------------------ the tables
    def tables(self) -> dict[str, pd.DataFrame]:
        """The five tables of this block as of the snapshot, dirt injected, and CHURN_OUTCOMES (what
        happened to the SCORE members after it; drawn from a stream of its own)."""
        members = self.members()
        t = self.simulate()
        in_train, is_churn, in_score = self.labels(t)
        scored, outcome, known = self.outcomes(t)
        logs = self.logs(t)
        rng = self.rng
        # transactions as of the snapshot, with dirt
        keep = t["date"] <= SNAPSHOT
        tx = {k: v[keep] for k, v in t.items()}
        k = len(tx["date"])
        date = to_yyyymmdd(tx["date"])
        expire = to_yyyymmdd(tx["expire"])
        # cancels often close the membership at once: expire before the transaction date
        early = (tx["cancel"] == 1) & (rng.random(k) < 0.3)
        expire = np.where(early, to_yyyymmdd(tx["date"] - rng.integers(1, 30, k)), expire)
        epoch = pick(rng, k, 0.001)
        expire = np.where(epoch, 19700101, expire)
        bad = pick(rng, k, 0.0003)
        date = np.where(bad, impossible_dates(rng, date), date)
        free = pick(rng, k, 0.003)
        plan = np.where(free, 0, tx["plan"])
        list_price = np.where(free, 0, tx["list_price"])
        paid = np.where(free, 0, tx["paid"])
        transactions = pd.DataFrame(
            {
                "MSNO": self.msno[tx["member"]],
                "PAYMENT_METHOD_ID": tx["method"],
                "PAYMENT_PLAN_DAYS": plan,
                "PLAN_LIST_PRICE": list_price,
                "ACTUAL_AMOUNT_PAID": paid,
                "IS_AUTO_RENEW": tx["auto"],
                "TRANSACTION_DATE": date,
                "MEMBERSHIP_EXPIRE_DATE": expire,
                "IS_CANCEL": tx["cancel"],
            }
        )
        dup = pick(rng, k, 0.004)
        transactions = pd.concat([transactions, transactions[dup]], ignore_index=True)
        order = np.lexsort((np.arange(len(transactions)), transactions["TRANSACTION_DATE"].to_numpy()))
        transactions = transactions.iloc[order].reset_index(drop=True)
        frames = {
            "MEMBERS": pd.DataFrame(members)[self.has_row].reset_index(drop=True),
            "TRANSACTIONS": transactions,
            "USER_LOGS": pd.DataFrame(logs),
            "TRAIN": pd.DataFrame({"MSNO": self.msno[in_train], "IS_CHURN": is_churn[in_train]}),
            "SCORE": pd.DataFrame({"MSNO": self.msno[in_score]}),
            "CHURN_OUTCOMES": pd.DataFrame(
                {
                    "MSNO": self.msno[scored],
                    "IS_CHURN": outcome[scored],
                    "KNOWN_AT": to_yyyymmdd(known[scored]),
                }
            ),
        }
        for name, frame in frames.items():
            assert list(frame.columns) == [c for c, _ in TABLES[name]], name
        return frames


def generate_block(seed: int, index: int, members: int) -> dict[str, pd.DataFrame]:
    """The five tables for block ``index`` (``members`` members) of the data set of ``seed``."""
    return _Block(seed, index, members).tables()


def iter_chunks(
    members: int, seed: int, chunk_members: int = 50_000
) -> Iterator[tuple[int, dict[str, pd.DataFrame]]]:
    """Stream the data set as (members in chunk, tables) chunks of about ``chunk_members`` members.
    Output is identical for every chunk size (blocks of ``BLOCK`` members are the unit of randomness)."""
    if members < 0:
        raise ValueError("members must be >= 0")
    blocks_per_chunk = max(1, chunk_members // BLOCK)
    n_blocks = -(-members // BLOCK)
    for first in range(0, n_blocks, blocks_per_chunk):
        parts: list[dict[str, pd.DataFrame]] = []
        count = 0
        for b in range(first, min(first + blocks_per_chunk, n_blocks)):
            size = min(BLOCK, members - b * BLOCK)
            parts.append(generate_block(seed, b, size))
            count += size
        yield count, {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in parts[0]}


@dataclass
class SeedStats:
    """What ``seed`` loaded: rows and load seconds per table, generation seconds, wall seconds."""

    members: int
    seed: int
    rows: dict[str, int]
    load_seconds: dict[str, float]
    generate_seconds: float
    wall_seconds: float
    churn_rate: float

    def rows_per_second(self) -> dict[str, float]:
        """Load throughput per table (rows / seconds spent in write_pandas for it)."""
        return {t: self.rows[t] / max(self.load_seconds[t], 1e-9) for t in self.rows}

    def total_rows(self) -> int:
        """Rows loaded over all tables."""
        return sum(self.rows.values())


def seed_warehouse(
    conn: object,
    members: int,
    seed: int,
    *,
    chunk_members: int = 50_000,
    progress: Callable[[int], None] | None = None,
    outcomes: bool = False,
) -> SeedStats:
    """Replace the data tables (MEMBERS, TRANSACTIONS, USER_LOGS, TRAIN, SCORE) of the connection's schema
    with the synthetic data set of (``members``, ``seed``), streamed chunk by chunk (bounded memory) and
    bulk-loaded with write_pandas. ``progress(members_done_in_chunk)`` is called after each chunk. With
    ``outcomes``, CHURN_OUTCOMES (what happened to the SCORE members) is replaced too; without, it is
    emptied (outcomes of another data set would be wrong). The other tables are the same either way."""
    from churn.warehouse.loading import bulk_load
    from churn.warehouse.schema import DATA_TABLES, OUTCOME_TABLE, init, truncate

    started = time.perf_counter()
    init(conn)
    truncate(conn, (*DATA_TABLES, OUTCOME_TABLE))
    loaded = (*DATA_TABLES, OUTCOME_TABLE) if outcomes else DATA_TABLES
    rows = dict.fromkeys(loaded, 0)
    load_seconds = dict.fromkeys(loaded, 0.0)
    generate_seconds = 0.0
    churners = 0
    t0 = time.perf_counter()
    for count, frames in iter_chunks(members, seed, chunk_members):
        generate_seconds += time.perf_counter() - t0
        churners += int(frames["TRAIN"]["IS_CHURN"].sum())
        for table in loaded:
            t1 = time.perf_counter()
            rows[table] += bulk_load(conn, table, frames[table])
            load_seconds[table] += time.perf_counter() - t1
        del frames
        if progress is not None:
            progress(count)
        t0 = time.perf_counter()
    return SeedStats(
        members=members,
        seed=seed,
        rows=rows,
        load_seconds=load_seconds,
        generate_seconds=generate_seconds,
        wall_seconds=time.perf_counter() - started,
        churn_rate=churners / rows["TRAIN"] if rows["TRAIN"] else 0.0,
    )
