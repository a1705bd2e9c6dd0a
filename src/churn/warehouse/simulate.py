"""Member simulation of the synthetic KKBox data: members, their subscriptions and the churn labels.

Each member's subscription is simulated event by event from 2015-01 (or their registration) to mid-May
2017, vectorized over a block of members:

* a latent monthly *satisfaction* (AR(1) around a member mean) drives listening volume, song completion
  and the renewal decisions of the following month, so listening drifts down before a member leaves;
* auto-renew members renew at expiry unless they cancel (more likely when unsatisfied or when a promotion
  ends) or the payment fails; manual payers decide at each expiry (tenure, plan length, price, promotion
  end, satisfaction and a member-level random effect), paying early, a little late or much later;
* members who lapse may come back months later; free trials convert or not.

Churn follows KKBox's definition on the simulated transactions: a member in TRAIN (membership as of
2017-02-28 expiring in March 2017) churns when no new valid subscription (non-cancel transaction extending
the membership) is made within 30 days after the expiry. SCORE: members whose membership as of 2017-03-31
expires in April 2017; their outcome (``outcomes``, the same definition on the April expiry) is what the
CHURN_OUTCOMES table holds. Events after ``SIM_END`` (to ``OUTCOME_END``) draw from a second random
stream, so the tables' bytes do not depend on them. ``churn.warehouse.generate`` derives the listening
logs and the tables from a simulated block.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

_EPOCH = np.datetime64("1970-01-01", "D")


def day(text: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return int((np.datetime64(text, "D") - _EPOCH).astype(np.int64))


SIM_START = day("2015-01-01")
TRAIN_CUTOFF = day("2017-02-28")  # TRAIN features from data dated <= this
SNAPSHOT = day("2017-03-31")  # the tables hold data dated <= this (= SCORE cut-off)
SIM_END = day("2017-05-20")  # simulate far enough to label every March expiry
OUTCOME_END = day("2017-06-01")  # ... and on (another stream) to see every April expiry's outcome
LOG_START = day("2016-12-01")  # USER_LOGS cover the last ~120 days before the snapshot
MARCH = (day("2017-03-01"), day("2017-03-31"))
APRIL = (day("2017-04-01"), day("2017-04-30"))
FIRST_REGISTRATION = day("2004-03-26")
MONTH0 = np.datetime64("2014-12", "M")
N_MONTHS = 30  # 2014-12 .. 2017-05


def to_yyyymmdd(days: np.ndarray) -> np.ndarray:
    """Vectorized: days since epoch -> YYYYMMDD integers."""
    d = (np.asarray(days, dtype=np.int64)).astype("datetime64[D]")
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return (years * 10000 + months * 100 + dom).astype(np.int64)


def _month_index(days: np.ndarray) -> np.ndarray:
    m = (np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]") - MONTH0).astype(
        np.int64
    )
    return np.clip(m, 0, N_MONTHS - 1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def _choice(rng: np.random.Generator, values: list[int], probs: list[float], size: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)[rng.choice(len(values), size=size, p=probs)]


# plan days -> list prices (NTD) and their odds
_PLANS = [30, 7, 90, 180, 410]
_PLAN_P = [0.88, 0.02, 0.045, 0.03, 0.025]
_PRICE_30 = ([149, 129, 99, 180, 150], [0.55, 0.15, 0.15, 0.10, 0.05])
_PRICE_OTHER = {7: 35, 90: 447, 180: 894, 410: 1788}
_AUTO_METHODS = ([41, 40, 39, 37, 38], [0.6, 0.1, 0.1, 0.1, 0.1])
_MANUAL_METHODS = ([36, 38, 34, 32, 31, 30, 29], [0.25, 0.2, 0.15, 0.1, 0.1, 0.1, 0.1])
# how much each payment channel adds to the odds of leaving (prepaid cards and some telecom bills lapse
# more easily than credit cards): a categorical, not monotone in the id
_METHOD_RISK = np.zeros(64)
_METHOD_RISK[[41, 40, 39, 37, 38, 36, 34, 32, 31, 30, 29]] = [
    0.0,
    0.9,
    0.2,
    1.2,
    0.3,
    0.0,
    -0.4,
    1.3,
    -0.7,
    0.8,
    1.4,
]
# registration channel and age group shift the odds too
_VIA_RISK = np.zeros(16)
_VIA_RISK[[7, 9, 3, 4, 13]] = [-0.2, 0.0, 0.3, 0.1, 0.7]


@dataclass
class _Txns:
    """Column buffers of simulated transactions (member index per row)."""

    member: list[np.ndarray]
    method: list[np.ndarray]
    plan: list[np.ndarray]
    list_price: list[np.ndarray]
    paid: list[np.ndarray]
    auto: list[np.ndarray]
    date: list[np.ndarray]
    expire: list[np.ndarray]
    cancel: list[np.ndarray]

    @classmethod
    def empty(cls) -> _Txns:
        """No transactions yet."""
        return cls([], [], [], [], [], [], [], [], [])

    def add(self, **cols: np.ndarray) -> None:
        """Append one batch of transactions (scalars broadcast to the batch's length)."""
        n = len(cols["member"])
        for name, values in cols.items():
            getattr(self, name).append(np.broadcast_to(np.asarray(values, dtype=np.int64), (n,)).copy())

    def arrays(self) -> dict[str, np.ndarray]:
        """The buffered transactions as one int64 array per column."""
        return {
            name: (np.concatenate(getattr(self, name)) if getattr(self, name) else np.zeros(0, np.int64))
            for name in ("member", "method", "plan", "list_price", "paid", "auto", "date", "expire", "cancel")
        }


def _msnos(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.bytes(32 * n)
    return np.array([base64.b64encode(raw[i * 32 : (i + 1) * 32]).decode() for i in range(n)], dtype=object)


def impossible_dates(rng: np.random.Generator, dates: np.ndarray) -> np.ndarray:
    """Corrupt YYYYMMDD integers into impossible ones of the same month where possible: the day after
    the month's last (20170229, 20170431, 20170332), day 00, or month 13 of the same year."""
    years, months = dates // 10000, dates // 100 % 100
    first = (years - 1970) * 12 + (months - 1)
    month_days = (
        (np.asarray(first + 1).astype("datetime64[M]").astype("datetime64[D]"))
        - np.asarray(first).astype("datetime64[M]").astype("datetime64[D]")
    ).astype(np.int64)
    kind = rng.random(len(dates))
    return np.where(
        kind < 0.5,
        years * 10000 + months * 100 + month_days + 1,
        np.where(kind < 0.75, years * 10000 + months * 100, years * 10000 + 1300 + dates % 100),
    )


def pick(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """A mask of ``n`` draws, each True with probability ``rate``."""
    return rng.random(n) < rate


class MemberBlock:
    """One block of members and their subscriptions, simulated with its own random stream (seeded by
    the data set's seed and the block index)."""

    def __init__(self, seed: int, index: int, n: int) -> None:
        self.rng = np.random.default_rng([seed, index])
        # events after SIM_END (only the SCORE outcomes need them) draw from their own stream
        self.outcome_rng = np.random.default_rng([seed, index, 1])
        self.n = n

    # ------------------------------------------------------------------ members
    def members(self) -> dict[str, np.ndarray]:
        """MEMBERS columns, and the latent traits the rest of the simulation reads (kept on ``self``)."""
        rng, n = self.rng, self.n
        self.msno = _msnos(rng, n)
        old = rng.random(n) < 0.35
        reg_old = day("2014-12-31") - np.minimum(rng.exponential(900, n), 3900).astype(np.int64)
        reg_new = day("2017-02-20") - rng.integers(0, day("2017-02-20") - SIM_START, n)
        # recent registrations are more frequent: resample a share from the last ~10 months
        recent = rng.random(n) < 0.35
        reg_new = np.where(recent, day("2017-02-20") - rng.integers(0, 300, n), reg_new)
        self.registered = np.maximum(np.where(old, reg_old, reg_new), FIRST_REGISTRATION)
        self.via = _choice(rng, [7, 9, 3, 4, 13], [0.3, 0.25, 0.2, 0.15, 0.1], n)
        self.city = np.where(rng.random(n) < 0.55, 1, rng.integers(3, 23, n))
        gender_known = rng.random(n) < 0.34
        bd = np.clip(np.round(rng.normal(28, 8, n)), 12, 70).astype(np.int64)
        bd = np.where(gender_known | (rng.random(n) < 0.12), bd, 0)
        outlier = pick(rng, n, 0.004)
        bd = np.where(
            outlier, np.where(rng.random(n) < 0.5, rng.integers(-7000, 0, n), rng.integers(101, 2016, n)), bd
        )
        gender = np.where(gender_known, np.where(rng.random(n) < 0.52, "male", "female"), None).astype(object)
        registration = to_yyyymmdd(self.registered)
        bad = pick(rng, n, 0.0008)
        registration = np.where(bad, impossible_dates(rng, registration), registration)
        # latent traits
        self.mu = rng.normal(0.0, 0.6, n)
        sat = np.empty((n, N_MONTHS))
        sat[:, 0] = self.mu + rng.normal(0, 0.6, n)
        for m in range(1, N_MONTHS):
            sat[:, m] = self.mu + 0.72 * (sat[:, m - 1] - self.mu) + rng.normal(0, 0.55, n)
        self.sat = sat
        age_risk = np.where((bd > 0) & (bd < 22), 0.4, np.where(bd > 45, -0.3, 0.0))
        # unobserved member-level churn propensity, plus what channel and age add
        self.effect = rng.normal(0.0, 0.3, n) + _VIA_RISK[self.via] + age_risk
        self.auto_pref = sigmoid(1.0 + 1.2 * (self.via == 7) - 0.6 * (self.via == 3) + rng.normal(0, 1.0, n))
        self.activity = rng.normal(0.25, 0.9, n)
        self.no_logs = pick(rng, n, 0.04)
        self.volume = rng.normal(0.0, 0.5, n)
        self.has_row = ~pick(rng, n, 0.01)  # some members exist in logs/transactions only
        return {
            "MSNO": self.msno,
            "CITY": self.city,
            "BD": bd,
            "GENDER": gender,
            "REGISTERED_VIA": self.via,
            "REGISTRATION_INIT_TIME": registration,
        }

    # ------------------------------------------------------------------ subscriptions
    def simulate(self) -> dict[str, np.ndarray]:
        """Every member's transactions, event by event to ``SIM_END`` (call ``members`` first)."""
        rng, n = self.rng, self.n
        tx = _Txns.empty()
        start = np.where(
            self.registered < SIM_START,
            SIM_START + rng.integers(0, 45, n),
            self.registered + np.where(rng.random(n) < 0.6, 0, rng.geometric(1 / 20, n)),
        )
        plan = _choice(rng, _PLANS, _PLAN_P, n)
        price30 = _choice(rng, *_PRICE_30, n)
        list_price = np.where(
            plan == 30, price30, np.vectorize(lambda p: _PRICE_OTHER.get(int(p), 149))(plan)
        )
        auto = (rng.random(n) < self.auto_pref) & (plan <= 30)
        method = np.where(auto, _choice(rng, *_AUTO_METHODS, n), _choice(rng, *_MANUAL_METHODS, n))
        trial = (self.registered >= SIM_START) & (rng.random(n) < 0.15)
        promo_left = np.where(~trial & (rng.random(n) < 0.12), rng.integers(1, 4, n), 0)
        bundle = rng.random(n) < 0.05  # a permanent partner discount
        tenure = np.zeros(n, np.int64)
        just_ended = np.zeros(n, bool)
        # first transaction
        first_plan = np.where(trial, 7, plan)
        first_list = np.where(trial, 0, list_price)
        first_paid = np.where(trial, 0, np.where(promo_left > 0, list_price // 2, list_price))
        tx.add(
            member=np.arange(n),
            method=method,
            plan=first_plan,
            list_price=first_list,
            paid=np.where(bundle & ~trial, first_list - 30, first_paid),
            auto=auto & ~trial,
            date=start,
            expire=start + first_plan,
            cancel=0,
        )
        promo_left = np.maximum(promo_left - 1, 0)
        in_trial = trial.copy()
        expire = start + first_plan
        next_day = expire.copy()
        returning = np.zeros(n, bool)
        gone = np.zeros(n, bool)

        def one_round(rng: np.random.Generator, idx: np.ndarray) -> None:
            # one decision (or return) per member of ``idx``, all draws from ``rng``
            x = next_day[idx]
            # last month's mood drives this decision, and so does its fall over the two months before
            s = self.sat[idx, _month_index(x - 30)]
            drop = self.sat[idx, _month_index(x - 90)] - s
            eff = self.effect[idx]
            ret = returning[idx]
            # ---- members coming back after a lapse: a fresh subscription
            back = idx[ret]
            if back.size:
                xb = next_day[back]
                a = rng.random(back.size) < self.auto_pref[back] * 0.7
                auto[back] = a & (plan[back] <= 30)
                method[back] = np.where(
                    auto[back],
                    _choice(rng, *_AUTO_METHODS, back.size),
                    _choice(rng, *_MANUAL_METHODS, back.size),
                )
                tx.add(
                    member=back,
                    method=method[back],
                    plan=plan[back],
                    list_price=list_price[back],
                    paid=np.where(bundle[back], list_price[back] - 30, list_price[back]),
                    auto=auto[back],
                    date=xb,
                    expire=xb + plan[back],
                    cancel=0,
                )
                expire[back] = xb + plan[back]
                next_day[back] = expire[back]
                returning[back] = False
                tenure[back] = 0
            # ---- decisions at expiry
            dec = idx[~ret]
            if dec.size == 0:
                return
            s = s[~ret]
            drop = drop[~ret]
            unhappy = np.maximum(-0.4 - s, 0.0) + 0.7 * np.maximum(drop - 0.6, 0.0)
            eff = eff[~ret]
            x = next_day[dec]
            m = dec.size
            renew = np.zeros(m, bool)
            delay = np.zeros(m, np.int64)
            # trials convert or not
            tr = in_trial[dec]
            renew[tr] = rng.random(tr.sum()) < sigmoid(0.6 + 0.5 * s[tr] - 1.5 * unhappy[tr] + eff[tr])
            # auto-renew members: cancel, payment failure, else renew on the expiry date
            au = auto[dec] & ~tr
            p_cancel = sigmoid(
                -4.1
                - 0.3 * s
                + 2.4 * unhappy
                + 0.9 * just_ended[dec]
                + 0.8 * (tenure[dec] < 3)
                + _METHOD_RISK[method[dec]]
                + eff
            )
            cancelled = au & (rng.random(m) < p_cancel)
            if cancelled.any():
                c = dec[cancelled]
                cdate = x[cancelled] - np.minimum(
                    rng.integers(1, 26, c.size), plan[c] - 1
                )  # within the period
                tx.add(
                    member=c,
                    method=method[c],
                    plan=plan[c],
                    list_price=list_price[c],
                    paid=np.where(bundle[c], list_price[c] - 30, list_price[c]),
                    auto=1,
                    date=cdate,
                    expire=x[cancelled],
                    cancel=1,
                )
                auto[c] = False
            fail = au & ~cancelled & (rng.random(m) < sigmoid(-4.6 - 0.3 * s))
            keep = au & ~cancelled & ~fail
            renew[keep] = True
            delay[keep] = -rng.integers(0, 2, keep.sum())
            # manual payers (and those who just cancelled) decide
            man = ~au & ~tr | cancelled
            logit = (
                -2.6
                - 0.3 * s
                + _METHOD_RISK[method[dec]]
                + 2.4 * unhappy
                + 1.5 * cancelled
                + 0.7 * just_ended[dec]
                + 0.6 * (tenure[dec] < 3)
                + 0.5 * (plan[dec] == 7)
                - 0.6 * (plan[dec] >= 90)
                + 0.35 * (list_price[dec] >= 180)
                - 0.4 * bundle[dec]
                + eff
            )
            renew[man] = rng.random(man.sum()) >= sigmoid(logit[man])
            late = rng.random(m)
            manual_delay = np.where(
                late < 0.62,
                -rng.integers(0, 8, m),
                np.where(
                    late < 0.9,
                    rng.integers(1, 15, m),
                    np.where(late < 0.97, rng.integers(15, 31, m), rng.integers(31, 75, m)),
                ),
            )
            delay = np.where(man | tr, manual_delay, delay)
            # ---- renewals
            r = dec[renew]
            if r.size:
                switch = rng.random(r.size) < 0.03
                plan[r] = np.where(switch, _choice(rng, _PLANS, _PLAN_P, r.size), plan[r])
                list_price[r] = np.where(
                    plan[r] == 30,
                    np.where(switch, _choice(rng, *_PRICE_30, r.size), list_price[r]),
                    np.vectorize(lambda p: _PRICE_OTHER.get(int(p), 149))(plan[r]),
                )
                to_auto = (
                    ~auto[r]
                    & (plan[r] <= 30)
                    & (rng.random(r.size) < 0.08 + 0.5 * in_trial[r] * self.auto_pref[r])
                )
                auto[r] = (auto[r] | to_auto) & (plan[r] <= 30)
                method[r] = np.where(to_auto, _choice(rng, *_AUTO_METHODS, r.size), method[r])
                date = x[renew] + delay[renew]
                new_expire = np.maximum(x[renew], date) + plan[r]
                promo = promo_left[r] > 0
                paid = np.where(
                    promo, list_price[r] // 2, np.where(bundle[r], list_price[r] - 30, list_price[r])
                )
                tx.add(
                    member=r,
                    method=method[r],
                    plan=plan[r],
                    list_price=list_price[r],
                    paid=paid,
                    auto=auto[r],
                    date=date,
                    expire=new_expire,
                    cancel=0,
                )
                just_ended[r] = promo & (promo_left[r] == 1)
                promo_left[r] = np.maximum(promo_left[r] - 1, 0)
                expire[r] = new_expire
                next_day[r] = new_expire
                tenure[r] += 1
                in_trial[r] = False
            # ---- lapses: some come back months later
            lapsed = dec[~renew]
            if lapsed.size:
                comes_back = rng.random(lapsed.size) < 0.3
                gap = 31 + rng.exponential(120, lapsed.size).astype(np.int64)
                returning[lapsed] = comes_back
                next_day[lapsed] = np.where(comes_back, next_day[lapsed] + gap, next_day[lapsed])
                gone[lapsed] = ~comes_back
                in_trial[lapsed] = False
                just_ended[lapsed] = False

        while True:
            # events up to SIM_END draw from the block's stream exactly as before outcomes existed; the
            # members' later events (the SCORE outcomes) draw from a stream of their own, so the
            # tables' bytes do not depend on them
            live = ~gone & (next_day <= OUTCOME_END)
            idx = np.flatnonzero(live & (next_day <= SIM_END))
            later = np.flatnonzero(live & (next_day > SIM_END))
            if idx.size == 0 and later.size == 0:
                break
            if idx.size:
                one_round(rng, idx)
            if later.size:
                one_round(self.outcome_rng, later)
        return tx.arrays()

    # ------------------------------------------------------------------ labels
    def labels(self, t: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(train mask, is_churn, score mask) by KKBox's definition on the simulated transactions."""
        n = self.n
        e_train = np.full(n, -1, np.int64)
        sel = t["date"] <= TRAIN_CUTOFF
        np.maximum.at(e_train, t["member"][sel], t["expire"][sel])
        in_train = (e_train >= MARCH[0]) & (e_train <= MARCH[1])
        mem = t["member"]
        valid = (
            (t["cancel"] == 0)
            & (t["date"] > TRAIN_CUTOFF)
            & (t["date"] <= e_train[mem] + 30)
            & (t["expire"] > e_train[mem])
        )
        renewed = np.zeros(n, bool)
        renewed[mem[valid]] = True
        e_score = np.full(n, -1, np.int64)
        sel = t["date"] <= SNAPSHOT
        np.maximum.at(e_score, t["member"][sel], t["expire"][sel])
        in_score = (e_score >= APRIL[0]) & (e_score <= APRIL[1])
        return in_train, (~renewed).astype(np.int64), in_score

    def outcomes(self, t: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(score mask, is_churn, day the outcome is known) of the SCORE members: what happened after
        the snapshot, by the same definition as TRAIN's label (no new valid subscription within 30 days
        of the April expiry). Known on expiry + 30 days."""
        n = self.n
        e_score = np.full(n, -1, np.int64)
        sel = t["date"] <= SNAPSHOT
        np.maximum.at(e_score, t["member"][sel], t["expire"][sel])
        in_score = (e_score >= APRIL[0]) & (e_score <= APRIL[1])
        mem = t["member"]
        valid = (
            (t["cancel"] == 0)
            & (t["date"] > SNAPSHOT)
            & (t["date"] <= e_score[mem] + 30)
            & (t["expire"] > e_score[mem])
        )
        renewed = np.zeros(n, bool)
        renewed[mem[valid]] = True
        return in_score, (~renewed).astype(np.int64), e_score + 30
