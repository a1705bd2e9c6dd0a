"""The churn pages of the pachlet console (entry point ``pachlet.console_plugins``: ``churn``).

- ``/churn/model[?commit=ID]``: the model of ``churn_model`` (master head by default): holdout metrics
  of the model and its baseline from ``metrics.json``, the calibration plot, the model card, the
  training job, and the metrics of earlier model commits.
- ``/churn/scores?msno=MSNO``: a CHURN_SCORES row looked up by MSNO and traced to its lineage with
  ``churn.lineage.explain`` (the same data as ``churn explain``): predict job and datum, feature shard,
  model commit and metrics, training job, ingest commits with their SQL and cron tick.

The score row is read from the ``churn_predict`` output commit (the exact rows the egress loaded into
the warehouse, found in the MSNO's shard), so the console never needs the warehouse; if the row is not
there, the warehouse is asked (as ``churn explain`` does). pachlet itself knows nothing of this module.
"""

from __future__ import annotations

import csv
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pachlet.console.plugins import PluginRegistry
from pachlet.errors import NotFoundError, PachletError

MODEL_REPO = "churn_model"
PREDICT_REPO = "churn_predict"
SCORES_DIR = "/CHURN_SCORES"
HISTORY = 20
METRIC_KEYS = (
    "auc",
    "log_loss",
    "brier",
    "precision_at_threshold",
    "recall_at_threshold",
    "precision_top_decile",
    "recall_top_decile",
    "predicted_positive_rate",
)
MAX_MSNO = 200

MODEL_HTML = """{% extends "base.html" %}
{% from "macros.html" import commit_link, gid_link, job_link, state, when %}
{% block title %}churn model{% endblock %}
{% block content %}
<h1><span class="kind">churn</span> model</h1>
{% if error %}<p class="banner failure">{{ error }}</p>{% else %}
<dl class="facts">
  <dt>model commit</dt><dd>{{ commit_link(commit.repo, commit.id) }} {{ gid_link(commit.id) }}</dd>
  <dt>trained</dt><dd>{% if commit.finished %}{{ when(commit.finished) }}{% else %}open{% endif %}</dd>
  <dt>training job</dt><dd>{% if job %}{{ job_link(job.pipeline, job.id) }} {{ state(job.state) }}{% else %}-{% endif %}</dd>
  {% for k in ("model_type", "baseline_type", "feature_version", "features", "seed", "threshold", "model_beats_baseline") %}
  {% if k in metrics %}<dt>{{ k|replace("_", " ") }}</dt><dd>{{ metrics[k] }}</dd>{% endif %}
  {% endfor %}
  {% if metrics.get("rows") %}<dt>rows</dt><dd>{% for k, v in metrics["rows"].items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</dd>{% endif %}
  {% if metrics.get("churn_rate") %}<dt>churn rate</dt><dd>{% for k, v in metrics["churn_rate"].items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</dd>{% endif %}
</dl>
<h2>Holdout metrics <small>from {{ commit_link(commit.repo, commit.id, "metrics.json") }}</small></h2>
<table class="metrics">
  <thead><tr><th>metric</th><th class="num">model</th><th class="num">baseline</th></tr></thead>
  <tbody>
  {% for k in metric_keys %}
  <tr data-metric="{{ k }}"><td>{{ k|replace("_", " ") }}</td><td class="num">{{ (metrics.get("model") or {}).get(k, "-") }}</td><td class="num">{{ (metrics.get("baseline") or {}).get(k, "-") }}</td></tr>
  {% endfor %}
  </tbody>
</table>
<div class="columns">
<section>
<h2>Calibration</h2>
{% if has_plot %}<img class="preview calibration" alt="calibration plot of {{ commit.id }}" src="/repos/{{ commit.repo }}/commits/{{ commit.id }}/raw/calibration.png">{% else %}<p class="empty">no calibration.png in this commit</p>{% endif %}
</section>
<section>
<h2>Model card</h2>
{% if card %}<pre class="preview text">{{ card }}</pre>{% else %}<p class="empty">no model_card.md in this commit</p>{% endif %}
</section>
</div>
<h2>metrics.json</h2>
<pre class="preview json">{{ metrics_json }}</pre>
{% endif %}
<h2>Model history <small>latest {{ history|length }} commits of {{ repo }}</small></h2>
<table class="history">
  <thead><tr><th>commit</th><th>finished</th><th class="num">AUC</th><th class="num">log loss</th><th class="num">baseline AUC</th><th></th></tr></thead>
  <tbody>
  {% for h in history %}
  <tr>
    <td>{{ commit_link(h.commit.repo, h.commit.id, h.commit.id|short) }}</td>
    <td>{% if h.commit.finished %}{{ when(h.commit.finished) }}{% else %}open{% endif %}</td>
    <td class="num">{{ h.auc }}</td><td class="num">{{ h.log_loss }}</td><td class="num">{{ h.baseline_auc }}</td>
    <td><a href="{{ base }}/model?commit={{ h.commit.id }}">view</a></td>
  </tr>
  {% else %}
  <tr><td colspan="6" class="empty">no model commits</td></tr>
  {% endfor %}
  </tbody>
</table>
{% endblock %}
"""

SCORES_HTML = """{% extends "base.html" %}
{% from "macros.html" import commit_link, gid_link, job_link, file_link, state %}
{% block title %}churn score lookup{% endblock %}
{% block content %}
<h1><span class="kind">churn</span> score lookup</h1>
<form class="lookup" method="get" action="{{ base }}/scores">
  <label for="msno">MSNO</label>
  <input id="msno" type="text" name="msno" value="{{ msno }}" maxlength="200" placeholder="a member's MSNO, e.g. from CHURN_SCORES" autocomplete="off">
  <button type="submit">trace</button>
</form>
{% if error %}<p class="banner failure">{{ error }}</p>{% endif %}
{% if source %}<p class="note">score row read from {{ source }}</p>{% endif %}
{% if info and (info.get("table") or {}).get("stale") %}<p class="banner failure stale">{{ info["table"]["note"] }}</p>{% endif %}
{% if info %}
{% set s = info.get("score") or {} %}
<h2>Score row <small>CHURN_SCORES</small></h2>
<table class="score">
  <thead><tr>{% for k in s %}<th>{{ k }}</th>{% endfor %}</tr></thead>
  <tbody><tr>{% for k, v in s.items() %}<td>{% if k == "GLOBAL_ID" and v %}{{ gid_link(v) }}{% elif k == "MODEL_COMMIT" and v %}{{ commit_link("churn_model", v, v|short) }}{% else %}{{ v }}{% endif %}</td>{% endfor %}</tr></tbody>
</table>
<dl class="facts">
  {% set pj = info.get("predict_job") %}
  {% if pj %}<dt>predict job</dt><dd>{% if pj is mapping %}{{ job_link(pj.get("pipeline", "churn_predict"), pj.get("id", "")) }} {{ state(pj.get("state")) }}{% else %}{{ job_link("churn_predict", pj) }}{% endif %}</dd>{% endif %}
  {% set pd = info.get("predict_datum") %}
  {% if pd and pj is mapping %}<dt>predict datum</dt><dd><a class="datum" href="/pipelines/{{ pj.get('pipeline', 'churn_predict') }}/jobs/{{ pj.get('id', '') }}/datums/{{ pd.get('id', '') }}"><code>{{ pd.get("id", "")|short }}</code></a> {{ state(pd.get("state")) }}</dd>{% endif %}
  {% set fs = info.get("feature_shard") %}
  {% if fs %}<dt>feature shard</dt><dd>{{ file_link(fs.get("repo", ""), fs.get("commit", ""), (fs.get("path") or "/").rstrip("/") or "/", fs.get("repo", "") ~ "@" ~ fs.get("commit", "")[:12] ~ ":" ~ fs.get("path", "")) }}</dd>{% endif %}
  {% set m = info.get("model") %}
  {% if m %}
  <dt>model commit</dt><dd>{{ commit_link(m.get("repo", "churn_model"), m.get("commit", "")) }} · <a href="{{ base }}/model?commit={{ m.get('commit', '') }}">model view</a>{% if m.get("note") %} <span class="note">{{ m.get("note") }}</span>{% endif %}</dd>
  {% set mm = (m.get("metrics") or {}).get("model") or {} %}
  {% if mm %}<dt>holdout metrics</dt><dd>{% for k, v in mm.items() %}{{ k|replace("_", " ") }} {{ v }}{% if not loop.last %} · {% endif %}{% endfor %}</dd>{% endif %}
  {% set tj = m.get("training_job") or info.get("training_job") %}
  {% if tj %}<dt>training job</dt><dd>{% if tj is mapping %}{{ job_link(tj.get("pipeline", "churn_model"), tj.get("id", "")) }} {{ state(tj.get("state")) }}{% else %}{{ job_link("churn_model", tj) }}{% endif %}</dd>{% endif %}
  {% endif %}
</dl>
{% for e in info.get("ingest") or [] %}
<h2>Ingest <small>{{ e.get("pipeline") or e.get("repo") }}</small></h2>
<dl class="facts">
  <dt>ingest commit</dt><dd>{{ commit_link(e.get("repo", ""), e.get("commit", "")) }}</dd>
  {% set q = e.get("queries") %}
  {% if q %}<dt>query commit</dt><dd>{{ commit_link(q.get("repo", ""), q.get("commit", "")) }}</dd>{% endif %}
  {% set t = e.get("tick") %}
  {% if t %}<dt>cron tick</dt><dd>{% if t is mapping %}{{ t.get("time") }} ({{ commit_link(t.get("repo", ""), t.get("commit", "")) }}){% else %}{{ t }}{% endif %}</dd>{% endif %}
</dl>
{% if e.get("sql") %}<pre class="preview sql">{{ e.get("sql") }}</pre>{% endif %}
{% endfor %}
{% if info.get("chain") %}
<h2>Provenance chain</h2>
<table class="lineage">
  <thead><tr><th>commit</th><th>origin</th><th>pipeline</th><th>job</th></tr></thead>
  <tbody>
  {% for n in info.get("chain") %}
  <tr>
    <td>{{ commit_link(n.get("repo", ""), n.get("commit", "")) }}</td>
    <td>{{ n.get("origin", "") }}</td>
    <td>{% if n.get("pipeline") %}<a href="/pipelines/{{ n.get('pipeline') }}">{{ n.get("pipeline") }}</a>{% endif %}</td>
    <td>{% if n.get("job_state") %}{{ job_link(n.get("pipeline"), n.get("commit"), "job") }} {{ state(n.get("job_state")) }}{% endif %}</td>
  </tr>
  {% endfor %}
  </tbody>
</table>
{% endif %}
<details><summary>lineage as JSON (<code>churn explain {{ msno }} -o json</code>)</summary><pre class="preview json">{{ info_json }}</pre></details>
{% endif %}
{% endblock %}
"""


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("-" if value is None else str(value))


def model_context(p: Any, commit: str | None) -> dict[str, Any]:
    """What the model page shows for ``churn_model@commit`` (master's head when None)."""
    ctx: dict[str, Any] = {"repo": MODEL_REPO, "metric_keys": METRIC_KEYS, "error": ""}
    try:
        history = p.list_commits(MODEL_REPO, number=HISTORY)
    except NotFoundError:
        ctx.update(history=[], error=f"no repo {MODEL_REPO} yet: create the churn pipelines and run them")
        return ctx
    rows = []
    for c in history:
        m: dict[str, Any] = {}
        if c.finished and not c.error:
            try:
                m = json.loads(p.get_file(MODEL_REPO, c.id, "/metrics.json"))
            except (PachletError, ValueError):
                m = {}
        model, base = m.get("model") or {}, m.get("baseline") or {}
        rows.append(
            {
                "commit": c,
                "auc": _fmt(model.get("auc")),
                "log_loss": _fmt(model.get("log_loss")),
                "baseline_auc": _fmt(base.get("auc")),
            }
        )
    ctx["history"] = rows
    try:
        info = p.inspect_commit(MODEL_REPO, commit or "master")
        metrics = json.loads(p.get_file(MODEL_REPO, info.id, "/metrics.json"))
    except NotFoundError as exc:
        ctx["error"] = f"no model to show: {exc}"
        return ctx
    except ValueError as exc:
        ctx["error"] = f"metrics.json is not valid JSON: {exc}"
        return ctx
    files = {f.path for f in p.list_files(MODEL_REPO, info.id, "/")}
    card = ""
    if "/model_card.md" in files:
        card = p.get_file(MODEL_REPO, info.id, "/model_card.md").decode("utf-8", "replace")
    job = None
    if info.origin == "AUTO":
        try:
            job = p.inspect_job(MODEL_REPO, info.id)
        except NotFoundError:
            job = None
    ctx.update(
        commit=info,
        metrics=metrics if isinstance(metrics, dict) else {},
        metrics_json=json.dumps(metrics, indent=2, ensure_ascii=False),
        has_plot="/calibration.png" in files,
        card=card,
        job=job,
    )
    return ctx


def score_from_output(p: Any, msno: str) -> tuple[dict[str, Any], str] | None:
    """``(row, where)``: the CHURN_SCORES row of ``msno`` in ``churn_predict@master``, from the shard
    file the MSNO hashes to; None if it is not there."""
    from churn.lineage import SCORE_COLUMNS
    from churn.stages.sharding import shard_name, shard_of

    try:
        head = p.inspect_commit(PREDICT_REPO, "master")
        files = [f for f in p.list_files(PREDICT_REPO, head.id, SCORES_DIR) if f.file_type == "file"]
    except (NotFoundError, PachletError):
        return None
    if not files:
        return None
    wanted = f"{SCORES_DIR}/{shard_name(shard_of(msno, len(files)))}.csv"
    candidates = [f for f in files if f.path == wanted] or files
    for f in candidates:
        with p.file_object_path(PREDICT_REPO, head.id, f.path).open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                if rec.get("MSNO") == msno:
                    row = {c: _typed(c, rec.get(c)) for c in SCORE_COLUMNS}
                    return row, f"{PREDICT_REPO}@{head.id}:{f.path}"
    return None


def _typed(column: str, value: str | None) -> Any:
    """CSV text as the warehouse column's type (FLOAT / NUMBER); the ID and time columns stay text."""
    if value is None or value == "":
        return None
    cast = {"CHURN_PROBABILITY": float, "CHURN_PREDICTION": int}.get(column)
    try:
        return cast(value) if cast else value
    except ValueError:
        return value


def scores_context(p: Any, msno: str) -> dict[str, Any]:
    """What the score lookup page shows for ``msno`` (empty: just the form)."""
    ctx: dict[str, Any] = {"msno": msno, "info": None, "error": "", "source": "", "info_json": ""}
    if not msno:
        return ctx
    if len(msno) > MAX_MSNO:
        ctx["error"] = "MSNO too long"
        return ctx
    try:
        from churn import lineage
    except ImportError as exc:  # lineage is optional for the console
        ctx["error"] = f"churn.lineage is not available: {exc}"
        return ctx
    try:
        found = score_from_output(p, msno)
        if found is not None:
            row, ctx["source"] = found
            info = lineage.explain(p, msno, row=row)
        else:
            ctx["source"] = "the warehouse (CHURN_SCORES)"
            info = lineage.explain(p, msno)
    except Exception as exc:  # LineageError, warehouse errors: one line for the page
        ctx["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ctx
    ctx["info"] = info
    ctx["info_json"] = json.dumps(info, indent=2, ensure_ascii=False, default=str)
    return ctx


def register(console: PluginRegistry) -> None:
    """Add the model page and the score lookup to the console."""
    console.add_templates({"model.html": MODEL_HTML, "scores.html": SCORES_HTML})

    def model_page(request: Request) -> Response:
        commit = request.query_params.get("commit") or None
        if commit is not None and not all(ch.isalnum() or ch in "_-.^~" for ch in commit):
            commit = None
        ctx = model_context(console.pachlet, commit)
        return console.render(request, "model.html", {**ctx, "base": console.url()})

    def scores_page(request: Request) -> Response:
        msno = (request.query_params.get("msno") or "").strip()
        ctx = scores_context(console.pachlet, msno)
        return console.render(request, "scores.html", {**ctx, "base": console.url()})

    console.add_page("/model", model_page, nav="Model")
    console.add_page("/scores", scores_page, nav="Score lookup")
    console.add_repo_link(MODEL_REPO, "churn model view (metrics, calibration)", "/model")
    console.add_repo_link(PREDICT_REPO, "churn score lookup by MSNO", "/scores")


__all__ = ["model_context", "register", "score_from_output", "scores_context"]
