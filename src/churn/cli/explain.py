"""`churn explain MSNO`: the lineage of one churn score, as text or JSON, from a local pachlet root or
through the Pachyderm API of any pachd (``--pachd`` / ``--context``)."""

from __future__ import annotations

import json

import click

from churn.errors import ChurnError
from churn.lineage import explain, format_lineage, score_row


@click.command("explain")
@click.argument("msno")
@click.option("--url", default=None, help="Warehouse URL (default: $CHURN_WAREHOUSE_URL or embedded).")
@click.option("--root", default=None, help="pachlet root (default: $PACHLET_ROOT or ./.pachlet).")
@click.option(
    "--pachd",
    default=None,
    metavar="ADDRESS",
    help="Trace through the Pachyderm API of this pachd (host:port or grpc://host:port) instead of a root.",
)
@click.option(
    "--context",
    "use_context",
    is_flag=True,
    help="Trace through the pachd of the active pachctl context ($PACH_CONFIG or ~/.pachyderm/config.json).",
)
@click.option("-o", "--output", type=click.Choice(("text", "json")), default="text", show_default=True)
def explain_command(
    msno: str, url: str | None, root: str | None, pachd: str | None, use_context: bool, output: str
) -> None:
    """Trace MSNO's churn score from its CHURN_SCORES row back to the predict job, the feature shard and
    model commits, the training job and its metrics, and the ingest SQL and cron tick."""
    from pachlet.api import Pachlet
    from pachlet.errors import PachletError

    if root and (pachd or use_context):
        raise click.UsageError("--root reads a local root; --pachd / --context ask a pachd: pass one")
    try:
        row = score_row(msno, url)
        if pachd or use_context:
            from churn.lineage_api import ApiLineageSource

            info = explain(ApiLineageSource.connect(pachd), msno, row=row)
        else:
            with Pachlet.open(root, read_only=True) as p:
                info = explain(p, msno, row=row)
    except (ChurnError, PachletError) as exc:  # lineage and warehouse errors are one redacted line
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # the connector's own errors (e.g. no CHURN_SCORES table): first line only
        raise click.ClickException(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    click.echo(json.dumps(info, indent=2) if output == "json" else format_lineage(info))
