"""The churn pages of the pachlet console (entry point ``pachlet.console_plugins``: ``churn``).

- ``/churn/model[?commit=ID]``: the model of ``churn_model`` (master head by default): holdout metrics
  of the promoted model, the challenger and the baseline (bootstrap 95 % intervals) from
  ``metrics.json``, the promotion decision, the campaign policy, calibration, permutation importance,
  the calibration plot, the model card, the training job, and the metrics of earlier model commits.
- ``/churn/monitor[?commit=ID]``: ``churn_monitor``'s ``monitor.json`` (master head by default): realized
  AUC, log loss, calibration and top-decile recall per model commit once outcomes exist, next to the
  holdout figures, and the PSI per feature of the predict job; the history of earlier monitor commits.
- ``/churn/scores?msno=MSNO``: a CHURN_SCORES row looked up by MSNO and traced to its lineage with
  ``churn.lineage.explain`` (the same data as ``churn explain``): predict job and datum, feature shard,
  model commit and metrics, training job, ingest commits with their SQL and cron tick.

The score row is read from the ``churn_predict`` output commit (the exact rows the egress loaded into
the warehouse, found in the MSNO's shard), so the console never needs the warehouse; if the row is not
there, the warehouse is asked (as ``churn explain`` does). pachlet itself knows nothing of this module.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pachlet.console.plugins import PluginRegistry
from pachlet.errors import NotFoundError, PachletError

MODEL_REPO = "churn_model"
PREDICT_REPO = "churn_predict"
MONITOR_REPO = "churn_monitor"
SCORES_DIR = "/CHURN_SCORES"
HISTORY = 20
METRIC_KEYS = (
    "auc",
    "log_loss",
    "brier",
    "precision_top_decile",
    "recall_top_decile",
    "lift_top_decile",
)
COLUMNS = ("model", "challenger", "baseline")
TOP_FEATURES = 10
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
{% set promo = metrics.get("promotion") or {} %}
{% if promo %}<p class="banner" data-promoted="{{ promo.get('promoted') }}">promoted: <b>{{ promo.get("promoted") }}</b> — {{ promo.get("reason") }}</p>{% endif %}
{% set pol = metrics.get("policy") or {} %}
{% set cal = metrics.get("calibration") or {} %}
<dl class="facts">
  {% if pol %}<dt>campaign policy</dt><dd data-policy="{{ pol.get('rule') }}">{{ pol.get("rule") }}{% if pol.get("contact_share") %} ({{ pol.get("contact_share") }} of members){% endif %}: threshold {{ pol.get("threshold") }}; expected on the holdout: contacted {{ (pol.get("expected") or {}).get("contacted_share") }}, precision {{ (pol.get("expected") or {}).get("precision") }}, recall {{ (pol.get("expected") or {}).get("recall") }}</dd>{% endif %}
  {% if cal %}<dt>calibration-in-the-large</dt><dd>{{ cal.get("in_the_large") }} (mean probability {{ cal.get("mean_probability") }} vs churn rate {{ cal.get("churn_rate") }})</dd>{% endif %}
</dl>
<h2>Holdout metrics <small>from {{ commit_link(commit.repo, commit.id, "metrics.json") }}; [bootstrap 95 % interval]</small></h2>
<table class="metrics">
  <thead><tr><th>metric</th>{% for c in columns %}<th class="num">{{ c }}</th>{% endfor %}</tr></thead>
  <tbody>
  {% for k in metric_keys %}
  <tr data-metric="{{ k }}"><td>{{ k|replace("_", " ") }}</td>{% for c in columns %}{% set iv = ((metrics.get("intervals") or {}).get(c) or {}).get(k) %}<td class="num">{{ (metrics.get(c) or {}).get(k, "-") }}{% if iv %} <small>[{{ iv[0] }}, {{ iv[1] }}]</small>{% endif %}</td>{% endfor %}</tr>
  {% endfor %}
  </tbody>
</table>
{% if importance %}
<h2>Permutation importance <small>holdout; rise in log loss when the feature is shuffled, top {{ top_features }}</small></h2>
<div class="columns">
{% for name, rows in importance.items() %}
<section>
<h3>{{ name }}</h3>
<table class="importance" data-model="{{ name }}">
  <thead><tr><th>feature</th><th class="num">log loss rise</th><th class="num">AUC fall</th></tr></thead>
  <tbody>{% for r in rows %}<tr><td>{{ r.get("feature") }}</td><td class="num">{{ r.get("log_loss_increase") }}</td><td class="num">{{ r.get("auc_decrease") }}</td></tr>{% endfor %}</tbody>
</table>
</section>
{% endfor %}
</div>
{% endif %}
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

MONITOR_HTML = """{% extends "base.html" %}
{% from "macros.html" import commit_link, gid_link, when %}
{% block title %}churn monitor{% endblock %}
{% block content %}
<h1><span class="kind">churn</span> monitor</h1>
{% if error %}<p class="banner failure">{{ error }}</p>{% else %}
<dl class="facts">
  <dt>monitor commit</dt><dd>{{ commit_link(commit.repo, commit.id) }} {{ gid_link(commit.id) }}</dd>
  <dt>predict jobs</dt><dd>{% for j in doc.get("predict_jobs") or [] %}{{ gid_link(j) if j else "-" }} {% endfor %}</dd>
  <dt>outcomes</dt><dd>{{ doc.get("outcomes", 0) }} rows{% if not doc.get("outcomes") %} (none yet: load them with <code>churn warehouse seed --outcomes</code>, then <code>pachlet run cron churn_outcomes_queries</code>){% endif %}</dd>
  <dt>promoted model</dt><dd>{{ doc.get("promoted") or "-" }}</dd>
</dl>
<h2>Realized against the holdout <small>per model commit</small></h2>
<table class="realized">
  <thead><tr><th>model commit</th><th class="num">rows</th>{% for k in realized_keys %}<th class="num">{{ k|replace("_", " ") }}</th>{% endfor %}</tr></thead>
  <tbody>
  <tr class="holdout"><td>holdout (reported)</td><td class="num">-</td>{% for k in realized_keys %}<td class="num">{{ (doc.get("holdout") or {}).get(k, doc.get("holdout_calibration_in_the_large") if k == "in_the_large" else "-") }}</td>{% endfor %}</tr>
  {% for c, r in (doc.get("realized") or {}).items() %}
  <tr data-commit="{{ c }}"><td>{% if c %}{{ commit_link("churn_model", c, c|short) }}{% else %}(none){% endif %}</td><td class="num">{{ r.get("rows") }}</td>{% if r.get("note") %}<td colspan="{{ realized_keys|length }}" class="empty">{{ r.get("note") }}</td>{% else %}{% for k in realized_keys %}<td class="num">{{ r.get(k, "-") }}</td>{% endfor %}{% endif %}</tr>
  {% endfor %}
  </tbody>
</table>
{% set d = doc.get("drift") or {} %}
<h2>Feature drift <small>PSI of the scoring features against training; &lt; 0.1 stable, 0.1-0.25 moderate, &gt; 0.25 major</small></h2>
<table class="drift">
  <thead><tr><th>feature</th><th class="num">PSI</th><th>level</th></tr></thead>
  <tbody>{% for name, v, lvl in psi %}<tr data-feature="{{ name }}"><td>{{ name }}</td><td class="num">{{ v }}</td><td>{{ lvl }}</td></tr>{% endfor %}</tbody>
</table>
{% endif %}
<h2>Monitor history <small>latest {{ history|length }} commits of {{ repo }}</small></h2>
<table class="history">
  <thead><tr><th>commit</th><th>finished</th><th class="num">realized AUC</th><th class="num">outcomes</th><th>max PSI</th><th></th></tr></thead>
  <tbody>
  {% for h in history %}
  <tr><td>{{ commit_link(h.commit.repo, h.commit.id, h.commit.id|short) }}</td><td>{% if h.commit.finished %}{{ when(h.commit.finished) }}{% else %}open{% endif %}</td><td class="num">{{ h.auc }}</td><td class="num">{{ h.outcomes }}</td><td>{{ h.psi }}</td><td><a href="{{ base }}/monitor?commit={{ h.commit.id }}">view</a></td></tr>
  {% else %}
  <tr><td colspan="6" class="empty">no monitor commits</td></tr>
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
    ctx: dict[str, Any] = {
        "repo": MODEL_REPO,
        "metric_keys": METRIC_KEYS,
        "columns": COLUMNS,
        "top_features": TOP_FEATURES,
        "importance": {},
        "error": "",
    }
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
    metrics = metrics if isinstance(metrics, dict) else {}
    importance = metrics.get("importance") if isinstance(metrics.get("importance"), dict) else {}
    ctx.update(
        commit=info,
        metrics=metrics,
        importance={k: list(v)[:TOP_FEATURES] for k, v in importance.items() if isinstance(v, list)},
        metrics_json=json.dumps(metrics, indent=2, ensure_ascii=False),
        has_plot="/calibration.png" in files,
        card=card,
        job=job,
    )
    return ctx


REALIZED_KEYS = ("auc", "log_loss", "brier", "recall_top_decile", "in_the_large")


def _monitor_doc(p: Any, commit_id: str) -> dict[str, Any]:
    doc = json.loads(p.get_file(MONITOR_REPO, commit_id, "/monitor.json"))
    return doc if isinstance(doc, dict) else {}


def monitor_context(p: Any, commit: str | None) -> dict[str, Any]:
    """What the monitor page shows for ``churn_monitor@commit`` (master's head when None)."""
    from churn.ml.drift import level

    ctx: dict[str, Any] = {"repo": MONITOR_REPO, "realized_keys": REALIZED_KEYS, "error": "", "psi": []}
    try:
        history = p.list_commits(MONITOR_REPO, number=HISTORY)
    except NotFoundError:
        ctx.update(history=[], error=f"no repo {MONITOR_REPO} yet: create the churn pipelines and run them")
        return ctx
    rows = []
    for c in history:
        doc: dict[str, Any] = {}
        if c.finished and not c.error:
            try:
                doc = _monitor_doc(p, c.id)
            except (PachletError, ValueError):
                doc = {}
        realized = [r for r in (doc.get("realized") or {}).values() if isinstance(r, dict) and "auc" in r]
        worst = (doc.get("drift") or {}).get("max") or {}
        rows.append(
            {
                "commit": c,
                "auc": _fmt(realized[0]["auc"]) if realized else "-",
                "outcomes": doc.get("outcomes", "-"),
                "psi": f"{worst.get('feature')} {_fmt(worst.get('psi'))}" if worst.get("feature") else "-",
            }
        )
    ctx["history"] = rows
    try:
        info = p.inspect_commit(MONITOR_REPO, commit or "master")
        doc = _monitor_doc(p, info.id)
    except NotFoundError as exc:
        ctx["error"] = f"no monitor output to show: {exc}"
        return ctx
    except ValueError as exc:
        ctx["error"] = f"monitor.json is not valid JSON: {exc}"
        return ctx
    psi = (doc.get("drift") or {}).get("psi") or {}
    ctx.update(
        commit=info,
        doc=doc,
        psi=[(k, v, level(v)) for k, v in sorted(psi.items(), key=lambda kv: (-kv[1], kv[0]))],
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
        text = p.get_file(PREDICT_REPO, head.id, f.path).decode("utf-8")
        for rec in csv.DictReader(io.StringIO(text, newline="")):
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


PACHD_ENV = "CHURN_CONSOLE_PACHD"
"""Set to a pachd address (or ``context``: the active pachctl context) to make the score lookup read
through the Pachyderm API of that pachd (python-pachyderm calls, as ``churn explain --pachd``)
instead of the console's own root."""


def scores_context(p: Any, msno: str, pachd: str | None = None) -> dict[str, Any]:
    """What the score lookup page shows for ``msno`` (empty: just the form). With ``pachd`` (an address,
    or ``context``) the row and its lineage are read through that pachd's API instead of ``p``."""
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
        if pachd:
            from churn.lineage_api import ApiLineageSource

            p = ApiLineageSource.connect(None if pachd == "context" else pachd)
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
    console.add_templates(
        {"model.html": MODEL_HTML, "monitor.html": MONITOR_HTML, "scores.html": SCORES_HTML}
    )

    def model_page(request: Request) -> Response:
        commit = request.query_params.get("commit") or None
        if commit is not None and not all(ch.isalnum() or ch in "_-.^~" for ch in commit):
            commit = None
        ctx = model_context(console.pachlet, commit)
        return console.render(request, "model.html", {**ctx, "base": console.url()})

    def monitor_page(request: Request) -> Response:
        commit = request.query_params.get("commit") or None
        if commit is not None and not all(ch.isalnum() or ch in "_-.^~" for ch in commit):
            commit = None
        ctx = monitor_context(console.pachlet, commit)
        return console.render(request, "monitor.html", {**ctx, "base": console.url()})

    def scores_page(request: Request) -> Response:
        msno = (request.query_params.get("msno") or "").strip()
        ctx = scores_context(console.pachlet, msno, os.environ.get(PACHD_ENV) or None)
        return console.render(request, "scores.html", {**ctx, "base": console.url()})

    console.add_page("/model", model_page, nav="Model")
    console.add_page("/monitor", monitor_page, nav="Monitor")
    console.add_page("/scores", scores_page, nav="Score lookup")
    console.add_repo_link(MODEL_REPO, "churn model view (metrics, calibration)", "/model")
    console.add_repo_link(PREDICT_REPO, "churn score lookup by MSNO", "/scores")
    console.add_repo_link(MONITOR_REPO, "churn monitor view (realized metrics, drift)", "/monitor")


__all__ = ["model_context", "monitor_context", "register", "score_from_output", "scores_context"]
