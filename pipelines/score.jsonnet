// Entry point: the scoring pipelines of the churn DAG (ingest, clean, features, predict, egress) for one target.
//   churn render --target cluster --tla account=acme-prod   (or: jsonnet -J jsonnet -J pipelines --tla-str target=cluster ...)
// Every argument is a string; empty means the target's default (pipelines/targets/<target>.libsonnet).
local churn = import 'churn.libsonnet';
local targets = import 'targets/targets.libsonnet';

function(target='local', url='', account='', user='', database='', schema='', warehouse='', role='',
         image='', cronSpec='', shards='')
  churn.score(targets.resolve(target, {
    url: url,
    account: account,
    user: user,
    database: database,
    schema: schema,
    warehouse: warehouse,
    role: role,
    image: image,
    cronSpec: cronSpec,
    shards: shards,
  }))
