"""pachlet's SQL egress core (``pachlet.egress.load_tables``) against the embedded warehouse (real fakesnow
through the real snowflake connector, via ``churn.warehouse``), with the churn driver's bulk path."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from churn.warehouse import egress_driver
from pachlet.egress import EgressError, FileOpener, load_tables, split_table_path
from pachlet.redact import redact_text, redact_url, redact_values

URL = "snowflake://churn@embedded/KKBOX/PUBLIC?warehouse=LOCAL_WH"
COLUMNS = ["MSNO", "CHURN_PROBABILITY", "CHURN_PREDICTION", "MODEL_COMMIT", "GLOBAL_ID", "SCORED_AT"]
HEADER = ",".join(COLUMNS) + "\n"


class FakesnowDriver:
    """The production driver (``churn.warehouse.egress_driver``: ``churn.warehouse.connect_url`` on this
    test's embedded warehouse, PUT + COPY INTO bulk path), counting the connections it opens."""

    bulk_load = staticmethod(egress_driver.bulk_load)

    def __init__(self) -> None:
        self.connects = 0

    @contextmanager
    def connect(self, url: str, password: str | None) -> Iterator[Any]:
        """A connection to the embedded database KKBOX.PUBLIC."""
        self.connects += 1
        with egress_driver.connect(url, password) as conn:
            yield conn

    def sql(self, *statements: str) -> list[tuple[Any, ...]]:
        """Run statements (autocommit); rows of the last one."""
        with self.connect(URL, None) as conn:
            cur = conn.cursor()
            rows: list[tuple[Any, ...]] = []
            for st in statements:
                cur.execute(st)
                rows = cur.fetchall() if cur.description else []
            return rows


class InsertOnlyDriver(FakesnowDriver):
    """The same warehouse through a driver without ``bulk_load`` (pachlet's generic executemany path)."""

    bulk_load = None  # type: ignore[assignment]


@pytest.fixture
def wh() -> FakesnowDriver:
    drv = FakesnowDriver()
    drv.sql(
        "CREATE TABLE CHURN_SCORES (MSNO VARCHAR NOT NULL, CHURN_PROBABILITY DOUBLE, CHURN_PREDICTION INTEGER, "
        "MODEL_COMMIT VARCHAR, GLOBAL_ID VARCHAR, SCORED_AT TIMESTAMP)",
        "CREATE TABLE TRAIN (MSNO VARCHAR, IS_CHURN INTEGER)",
        "INSERT INTO CHURN_SCORES VALUES ('old1', 0.5, 1, 'm0', 'g0', '2017-01-01 00:00:00'), "
        "('old2', 0.1, 0, 'm0', 'g0', '2017-01-01 00:00:00')",
        "INSERT INTO TRAIN VALUES ('t_old', 1)",
    )
    drv.connects = 0
    return drv


def files(mapping: dict[str, str | bytes]) -> list[tuple[str, FileOpener]]:
    """``(path, opener)`` pairs from in-memory contents."""
    out = []
    for path, content in mapping.items():
        data = content.encode() if isinstance(content, str) else content
        out.append((path, lambda data=data: io.BytesIO(data)))
    return out


def csv_spec(columns: list[str] | None = None) -> dict[str, Any]:
    return {"url": URL, "fileFormat": {"type": "CSV", "columns": COLUMNS if columns is None else columns}}


def score_rows(prefix: str, n: int, start: int = 0) -> str:
    return "".join(
        f"{prefix}{i},0.{i % 10}5,{i % 2},model1,gid1,2017-04-01T00:00:00Z\n" for i in range(start, start + n)
    )


def scores(wh: FakesnowDriver) -> list[tuple[Any, ...]]:
    return wh.sql(
        "SELECT MSNO, CHURN_PROBABILITY, CHURN_PREDICTION, MODEL_COMMIT FROM CHURN_SCORES ORDER BY MSNO"
    )


def test_full_replace_twice_no_duplicates(wh: FakesnowDriver) -> None:
    commit = files(
        {
            "/CHURN_SCORES/shard-00.csv": HEADER + score_rows("u", 3),
            "/CHURN_SCORES/shard-01.csv": HEADER + score_rows("u", 2, start=3),
        }
    )
    assert load_tables(wh, csv_spec(), commit, "pw") == {"PUBLIC.CHURN_SCORES": 5}
    assert load_tables(wh, csv_spec(), commit, "pw") == {"PUBLIC.CHURN_SCORES": 5}
    rows = scores(wh)
    assert [r[0] for r in rows] == ["u0", "u1", "u2", "u3", "u4"]  # old rows gone, no duplicates
    assert rows[1] == ("u1", 0.15, 1, "model1")
    ts = wh.sql("SELECT SCORED_AT FROM CHURN_SCORES WHERE MSNO = 'u0'")[0][0]
    assert (ts.year, ts.month, ts.day, ts.hour) == (2017, 4, 1, 0)
    assert wh.sql("SELECT COUNT(*) FROM TRAIN") == [(1,)]  # a table the commit does not touch is kept


def test_bad_row_in_second_file_rolls_back_everything(wh: FakesnowDriver) -> None:
    commit = files(
        {
            "/CHURN_SCORES/a.csv": HEADER + score_rows("new", 3),
            "/CHURN_SCORES/b.csv": HEADER
            + score_rows("new", 1, start=3)
            + "bad,notanumber,1,m,g,2017-04-01\n",
            "/TRAIN/x.csv": "MSNO\n",
        }
    )
    with pytest.raises(EgressError) as err:
        load_tables(wh, csv_spec(), commit, "pw")
    msg = str(err.value)
    assert "/CHURN_SCORES/b.csv" in msg and "line 3" in msg and "CHURN_PROBABILITY" in msg
    assert "'notanumber'" in msg and "rolled back" in msg and "\n" not in msg
    assert [r[0] for r in scores(wh)] == ["old1", "old2"]  # the DELETE and a.csv's rows were rolled back


def test_warehouse_error_mid_load_rolls_back_all_tables(wh: FakesnowDriver) -> None:
    """TRAIN is replaced first (path order), then the warehouse refuses a NULL in XSCORES.P (NOT NULL)."""
    wh.sql(
        "CREATE TABLE XSCORES (MSNO VARCHAR, P DOUBLE NOT NULL)", "INSERT INTO XSCORES VALUES ('x_old', 0.5)"
    )
    spec = csv_spec([])
    commit = files({"/TRAIN/x.csv": "t_new,0\n", "/XSCORES/a.csv": "x1,0.1\nx2,\n"})
    with pytest.raises(EgressError) as err:
        load_tables(wh, spec, commit, "pw")
    msg = str(err.value)
    assert "table PUBLIC.XSCORES: file /XSCORES/a.csv" in msg and "rolled back" in msg
    assert wh.sql("SELECT MSNO FROM TRAIN") == [("t_old",)]
    assert wh.sql("SELECT MSNO FROM XSCORES") == [("x_old",)]
    # once the data is fixed, a rerun succeeds
    commit = files({"/TRAIN/x.csv": "t_new,0\n", "/XSCORES/a.csv": "x1,0.1\nx2,0.2\n"})
    assert load_tables(wh, spec, commit, "pw") == {"PUBLIC.TRAIN": 1, "PUBLIC.XSCORES": 2}
    assert wh.sql("SELECT MSNO FROM TRAIN") == [("t_new",)]


def test_missing_table_names_it_and_changes_nothing(wh: FakesnowDriver) -> None:
    commit = files({"/CHURN_SCORES/a.csv": HEADER + score_rows("n", 1), "/NO_SUCH_TABLE/a.csv": "x\n"})
    with pytest.raises(EgressError, match=r"table PUBLIC\.NO_SUCH_TABLE does not exist"):
        load_tables(wh, csv_spec(), commit, "pw")
    assert [r[0] for r in scores(wh)] == ["old1", "old2"]


def test_header_in_another_order_is_mapped_by_name(wh: FakesnowDriver) -> None:
    header = "SCORED_AT,GLOBAL_ID,MODEL_COMMIT,CHURN_PREDICTION,CHURN_PROBABILITY,MSNO\n"
    commit = files({"/CHURN_SCORES/a.csv": header + "2017-04-01 10:00:00,g,m,1,0.75,zed\n"})
    assert load_tables(wh, csv_spec(), commit, "pw") == {"PUBLIC.CHURN_SCORES": 1}
    assert scores(wh) == [("zed", 0.75, 1, "m")]


def test_no_header_when_columns_empty(wh: FakesnowDriver) -> None:
    commit = files({"/CHURN_SCORES/a.csv": "a1,0.25,0,m,g,2017-04-01T00:00:00Z\na2,,1,,g,\n"})
    assert load_tables(wh, csv_spec([]), commit, "pw") == {"PUBLIC.CHURN_SCORES": 2}
    # Pachyderm's NULL rule: an empty field is NULL except in text columns, where it is ''
    assert scores(wh) == [("a1", 0.25, 0, "m"), ("a2", None, 1, "")]
    # the same file with columns set: its first row is taken as a header and rejected
    with pytest.raises(EgressError, match=r"line 1: unexpected header column 'a1'"):
        load_tables(wh, csv_spec(), commit, "pw")


def test_header_row_without_columns_is_a_bad_row(wh: FakesnowDriver) -> None:
    commit = files({"/CHURN_SCORES/a.csv": HEADER + score_rows("u", 1)})
    with pytest.raises(EgressError, match=r"line 1: column CHURN_PROBABILITY: invalid FLOAT value"):
        load_tables(wh, csv_spec([]), commit, "pw")


def test_wrong_field_count_and_header_errors(wh: FakesnowDriver) -> None:
    short = files({"/CHURN_SCORES/a.csv": "a1,0.25,0,m,g,2017-04-01\na2,0.5\n"})
    with pytest.raises(EgressError, match=r"line 2: wrong number of fields: have 2, want 6"):
        load_tables(wh, csv_spec([]), short, "pw")
    missing = files({"/CHURN_SCORES/a.csv": "MSNO,CHURN_PROBABILITY\nx,0.1\n"})
    with pytest.raises(EgressError, match=r"header lacks column\(s\) CHURN_PREDICTION"):
        load_tables(wh, csv_spec(), missing, "pw")
    with pytest.raises(EgressError, match=r"column 'NOPE' of fileFormat.columns is not a column of table"):
        load_tables(wh, csv_spec(["MSNO", "NOPE"]), files({"/CHURN_SCORES/a.csv": "MSNO,NOPE\n"}), "pw")
    assert len(scores(wh)) == 2


def test_columns_subset_leaves_other_columns_null(wh: FakesnowDriver) -> None:
    commit = files({"/CHURN_SCORES/a.csv": 'CHURN_PROBABILITY,MSNO\n0.5,"quoted, with comma"\n'})
    assert load_tables(wh, csv_spec(["MSNO", "CHURN_PROBABILITY"]), commit, "pw") == {
        "PUBLIC.CHURN_SCORES": 1
    }
    assert scores(wh) == [("quoted, with comma", 0.5, None, None)]


def test_json_lines(wh: FakesnowDriver) -> None:
    lines = [
        {"MSNO": "j1", "CHURN_PROBABILITY": 0.9, "CHURN_PREDICTION": 1, "MODEL_COMMIT": "m", "extra": [1, 2]},
        {"msno": "j2", "churn_probability": "0.2", "churn_prediction": None},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n\n"
    spec = {"url": URL, "fileFormat": {"type": "JSON", "columns": []}}
    assert load_tables(wh, spec, files({"/CHURN_SCORES/a.json": text}), "pw") == {"PUBLIC.CHURN_SCORES": 2}
    assert scores(wh) == [("j1", 0.9, 1, "m"), ("j2", 0.2, None, None)]
    bad = files({"/CHURN_SCORES/a.json": '{"MSNO": "x"}\n[1, 2]\n'})
    with pytest.raises(EgressError, match=r"line 2: expected a JSON object"):
        load_tables(wh, spec, bad, "pw")
    assert len(scores(wh)) == 2


@pytest.mark.parametrize(
    "directory",
    ["CHURN_SCORES;DROP TABLE TRAIN", 'X"; DELETE FROM TRAIN; --', "1TABLE", "a.b.c", "SCORES'--", "T ABLE"],
)
def test_injection_through_directory_name_rejected(wh: FakesnowDriver, directory: str) -> None:
    commit = files({f"/{directory}/a.csv": "x\n"})
    with pytest.raises(EgressError, match="is not a valid table name"):
        load_tables(wh, csv_spec([]), commit, "pw")
    assert wh.connects == 0  # rejected before touching the warehouse
    assert wh.sql("SELECT COUNT(*) FROM TRAIN") == [(1,)]


def test_split_table_path() -> None:
    assert split_table_path("/CHURN_SCORES/a/b.csv") == (None, "CHURN_SCORES")
    assert split_table_path("/PUBLIC.T$1/x") == ("PUBLIC", "T$1")


def test_schema_qualified_directory(wh: FakesnowDriver) -> None:
    commit = files({"/public.train/part-1.csv": "t1,0\nt2,1\n"})
    assert load_tables(wh, csv_spec([]), commit, "pw") == {"PUBLIC.TRAIN": 2}
    assert wh.sql("SELECT MSNO, IS_CHURN FROM TRAIN ORDER BY MSNO") == [("t1", 0), ("t2", 1)]


def test_files_at_root_rejected(wh: FakesnowDriver) -> None:
    with pytest.raises(EgressError, match=r"file '/scores.csv' is at the root of the output commit"):
        load_tables(wh, csv_spec(), files({"/scores.csv": HEADER}), "pw")
    assert wh.connects == 0


def test_password_redacted_in_errors(wh: FakesnowDriver) -> None:
    password = "Sup3r-S3cret-pw"
    commit = files({"/CHURN_SCORES/a.csv": f"a1,{password},0,m,g,2017-04-01\n"})
    with pytest.raises(EgressError) as err:
        load_tables(wh, {"url": URL, "fileFormat": {"type": "CSV"}}, commit, password)
    msg = str(err.value)
    assert password not in msg and "********" in msg and "CHURN_PROBABILITY" in msg
    assert err.value.__cause__ is None and err.value.__suppress_context__
    # a password pasted into the URL: the warehouse refuses it, and it is redacted from the error
    url = f"snowflake://churn:{password}@embedded/KKBOX/PUBLIC"
    with pytest.raises(EgressError) as err:
        load_tables(wh, {"url": url, "fileFormat": {"type": "CSV"}}, commit, "other")
    assert password not in str(err.value) and "churn:********@embedded" in str(err.value)
    assert len(scores(wh)) == 2


def test_empty_commit_is_a_noop(wh: FakesnowDriver) -> None:
    assert load_tables(wh, csv_spec(), [], "pw") == {}
    assert wh.connects == 0
    assert len(scores(wh)) == 2


def test_empty_files_replace_table_with_nothing(wh: FakesnowDriver) -> None:
    commit = files({"/CHURN_SCORES/a.csv": "", "/CHURN_SCORES/b.csv": HEADER})
    assert load_tables(wh, csv_spec(), commit, "pw") == {"PUBLIC.CHURN_SCORES": 0}
    assert scores(wh) == []


def test_unsupported_format_rejected(wh: FakesnowDriver) -> None:
    spec = {"url": URL, "fileFormat": {"type": "PARQUET"}}
    with pytest.raises(EgressError, match="PARQUET is not supported"):
        load_tables(wh, spec, files({"/CHURN_SCORES/a.parquet": b""}), "pw")


def test_driver_without_bulk_load_uses_inserts(wh: FakesnowDriver) -> None:
    drv = InsertOnlyDriver()
    commit = files({"/CHURN_SCORES/a.csv": HEADER + score_rows("i", 3)})
    assert load_tables(drv, csv_spec(), commit, "pw") == {"PUBLIC.CHURN_SCORES": 3}
    assert [r[0] for r in scores(wh)] == ["i0", "i1", "i2"]


def test_mixed_case_table_and_large_file_in_chunks(wh: FakesnowDriver) -> None:
    wh.sql('CREATE TABLE "MixedCase" ("Id" INTEGER, "Name" VARCHAR)')
    body = "".join(f"{i},n{i}\n" for i in range(2500))
    commit = files({"/MixedCase/a.csv": body})
    assert load_tables(wh, csv_spec([]), commit, "pw", chunk_rows=1000) == {"PUBLIC.MixedCase": 2500}
    assert wh.sql('SELECT COUNT(*), SUM("Id") FROM "MixedCase"')[0][0] == 2500


def test_redaction_helpers() -> None:
    """``pachlet.redact``: URL passwords (userinfo and query) and secret values, in URLs and messages."""
    assert redact_url("snowflake://u:s3cr3t@acct/DB/S") == "snowflake://u:********@acct/DB/S"
    assert redact_url("snowflake://u:s3cr3t@acct/DB/S", mask="***") == "snowflake://u:***@acct/DB/S"
    assert (
        redact_url("snowflake://u@a/DB?pwd=s3&warehouse=W") == "snowflake://u@a/DB?pwd=********&warehouse=W"
    )
    assert redact_url("snowflake://u:p@ss w@acct/DB") == "snowflake://u:********@acct/DB"
    assert redact_url("not a url") == "not a url"
    message = "SQL egress to snowflake://u:s3@acct/DB?warehouse=W: connect: Error: denied for me@acct"
    assert redact_text(message, ["denied"]) == (
        "SQL egress to snowflake://u:********@acct/DB?warehouse=W: connect: Error: ******** for me@acct"
    )
    assert redact_values(b"log pw-1 and pw-12", ["pw-1", "pw-12", None], mask="[X]") == b"log [X] and [X]"


class CountingDriver(FakesnowDriver):
    """The production driver, recording the row count of every bulk load."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[int] = []

    def bulk_load(self, conn: Any, schema: str, table: str, frame: Any) -> int:  # type: ignore[override]
        self.loads.append(len(frame))
        return egress_driver.bulk_load(conn, schema, table, frame)


def test_many_small_files_of_a_table_are_one_bulk_load(wh: FakesnowDriver) -> None:
    """Eight shard files of CHURN_SCORES (as churn_predict writes) become one PUT + COPY, rows in file
    order; a table's rows beyond ``chunk_rows`` still go in bounded loads."""
    drv = CountingDriver()
    commit = files({f"/CHURN_SCORES/shard-{i:02d}.csv": HEADER + score_rows(f"s{i}-", 5) for i in range(8)})
    assert load_tables(drv, csv_spec(), commit, "pw") == {"PUBLIC.CHURN_SCORES": 40}
    assert drv.loads == [40]
    assert len(scores(wh)) == 40 and {r[0] for r in scores(wh)} == {
        f"s{i}-{j}" for i in range(8) for j in range(5)
    }
    drv.loads.clear()
    assert load_tables(drv, csv_spec(), commit, "pw", chunk_rows=12) == {"PUBLIC.CHURN_SCORES": 40}
    assert drv.loads == [15, 15, 10] and len(scores(wh)) == 40  # three files a load, then the rest


def test_a_failed_bulk_load_names_the_files_it_held(wh: FakesnowDriver) -> None:
    """A warehouse refusal during a load that held several files names them all, and rolls back."""
    wh.sql("CREATE TABLE NN (MSNO VARCHAR, P DOUBLE NOT NULL)", "INSERT INTO NN VALUES ('keep', 0.5)")
    commit = files(
        {"/NN/a.csv": "MSNO,P\nx,0.1\n", "/NN/b.csv": "MSNO,P\ny,\n", "/NN/c.csv": "MSNO,P\nz,0.3\n"}
    )
    with pytest.raises(EgressError) as err:
        load_tables(wh, csv_spec(["MSNO", "P"]), commit, "pw")
    msg = str(err.value)
    assert "table PUBLIC.NN: files /NN/a.csv .. /NN/c.csv (3 files)" in msg and "rolled back" in msg, msg
    assert wh.sql("SELECT MSNO FROM NN") == [("keep",)]
