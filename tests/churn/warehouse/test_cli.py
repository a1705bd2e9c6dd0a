"""``churn warehouse`` commands through click's runner (real embedded warehouse)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from churn.cli.warehouse import warehouse


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(warehouse, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_init_seed_tables_sql_advance() -> None:
    code, out, _ = run("init")
    assert code == 0 and "initialised KKBOX.PUBLIC" in out and "CHURN_SCORES" in out
    code, out, _ = run("tables", "-o", "json")
    assert json.loads(out)["tables"] == dict.fromkeys(
        ["MEMBERS", "TRANSACTIONS", "USER_LOGS", "TRAIN", "SCORE", "CHURN_SCORES", "CHURN_OUTCOMES"], 0
    )
    code, out, err = run("seed", "--members", "2000", "--seed", "3", "--progress")
    assert code == 0, err
    assert "USER_LOGS" in out and "rows/s" in out and "TRAIN churn rate" in out
    assert "CHURN_OUTCOMES" not in out  # only on request
    code, out, _ = run("tables", "-o", "json")
    counts = json.loads(out)["tables"]
    assert counts["USER_LOGS"] > 40_000 and counts["MEMBERS"] > 1900 and counts["TRAIN"] > 400
    assert counts["CHURN_OUTCOMES"] == 0
    code, out, err = run("seed", "--members", "2000", "--seed", "3", "--no-progress", "--outcomes")
    assert code == 0 and "CHURN_OUTCOMES" in out, err
    code, out, _ = run("tables", "-o", "json")
    with_outcomes = json.loads(out)["tables"]
    assert with_outcomes["CHURN_OUTCOMES"] == counts["SCORE"]  # one outcome per SCORE member
    assert {k: v for k, v in with_outcomes.items() if k != "CHURN_OUTCOMES"} == {
        k: v for k, v in counts.items() if k != "CHURN_OUTCOMES"
    }
    code, out, _ = run("tables")
    assert (
        code == 0 and out.splitlines()[0].split() == ["TABLE", "ROWS"] and f"{counts['USER_LOGS']:,}" in out
    )
    code, out, _ = run("sql", "SELECT IS_CHURN, COUNT(*) AS N FROM TRAIN GROUP BY 1 ORDER BY 1", "-o", "json")
    rows = json.loads(out)
    assert [r["IS_CHURN"] for r in rows] == [0, 1] and sum(r["N"] for r in rows) == counts["TRAIN"]
    code, out, _ = run("sql", "SELECT MSNO, IS_CHURN FROM TRAIN ORDER BY MSNO LIMIT 3", "-o", "csv")
    assert code == 0 and out.splitlines()[0] == "MSNO,IS_CHURN" and len(out.splitlines()) == 4
    code, out, _ = run("sql", "SELECT COUNT(*) AS N FROM SCORE")
    assert (
        code == 0
        and out.splitlines()[0].strip() == "N"
        and out.splitlines()[2].strip() == str(counts["SCORE"])
    )

    code, out, _ = run("advance", "--count", "3", "--seed", "1", "-o", "json")
    assert code == 0, out
    advanced = json.loads(out)
    assert len(advanced) == 3
    code, again, _ = run("advance", "--count", "3", "--seed", "1", "-o", "json")
    assert [a["MSNO"] for a in json.loads(again)] == [a["MSNO"] for a in advanced]  # reproducible choice
    msno = advanced[0]["MSNO"]
    code, out, _ = run(
        "sql", f"SELECT COUNT(*) AS N FROM USER_LOGS WHERE MSNO = '{msno}' AND DATE = 20170331", "-o", "json"
    )
    assert json.loads(out)[0]["N"] >= 2
    code, out, _ = run("advance", "--members", msno)
    assert code == 0 and "advanced 1 member(s)" in out


def test_errors_are_one_line_and_non_zero() -> None:
    run("init")
    code, _, err = run("sql", "SELECT * FROM NO_SUCH_TABLE")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "snowflake://churn@embedded/KKBOX/PUBLIC" in err and "NO_SUCH_TABLE" in err
    code, _, err = run("tables", "--url", "snowflake://me:topsecret@acct/DB/S")
    assert code == 1 and "topsecret" not in err and "snowflake://me:***@acct/DB/S" in err
    code, _, err = run("advance", "--members", "nobody-here")
    assert code == 1 and "unknown member(s) nobody-here" in err
    code, _, err = run("advance")
    assert code == 2 and "exactly one of" in err
