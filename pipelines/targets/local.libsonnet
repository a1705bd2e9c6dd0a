// Target `local`: pachlet on a laptop against the embedded warehouse (fakesnow on DuckDB).
// The URL is churn.warehouse.EMBEDDED_URL; the password secret is still referenced, exactly as on a
// cluster (`churn demo` creates a local `snowflakesecret`; the embedded warehouse ignores its value).
{
  name: 'local',
  image: 'churn-pachlet:dev',
  url: 'snowflake://churn@embedded/KKBOX/PUBLIC?warehouse=LOCAL_WH',
  cronSpec: '@daily',
  shards: 8,
  // 'native': egress.sqlDatabase on churn_predict; 'container': a churn_egress pipeline (Pachyderm 2.8+).
  egress: 'native',
  secretName: 'snowflakesecret',
  secretKey: 'PACHYDERM_SQL_PASSWORD',
  // What `churn validate` accepts as existing outside the specs.
  declaredSecrets: [{ name: 'snowflakesecret', keys: ['PACHYDERM_SQL_PASSWORD'] }],
  sourceRepos: [],
  allowFloatingTags: true,
  nativeSqlEgress: true,
  // Per-stage settings (see pachyderm.libsonnet `settings`): no resource requests on a laptop, two
  // workers for the per-shard stages, and one datum try, so a failing stage fails fast.
  stages: {
    queries: { datumTries: 1 },
    ingest: { datumTries: 1 },
    clean: { parallelism: 2, datumTries: 1 },
    features: { parallelism: 2, datumTries: 1 },
    train: { datumTries: 1 },
    predict: { parallelism: 2, datumTries: 1 },
    monitor: { datumTries: 1 },
    egress: { datumTries: 1 },
  },
}
