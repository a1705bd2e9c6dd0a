// Target `cluster`: Pachyderm 2.7.x (pachd <= 2.7.6 still ships the Snowflake egress driver) and a
// real Snowflake account. The connection parts are placeholders, overridable at render time:
//   churn render --target cluster --tla account=acme-prod --tla user=CHURN_SVC --tla role=CHURN_ROLE
// The password never appears here: it comes from the Kubernetes secret snowflakesecret.
{
  name: 'cluster',
  image: 'ghcr.io/churn-pachlet/churn:0.1.0',
  snowflake: {
    account: 'myorg-myaccount',
    user: 'CHURN_SVC',
    database: 'KKBOX',
    schema: 'PUBLIC',
    warehouse: 'COMPUTE_WH',
    role: 'CHURN_ROLE',
  },
  url: null,  // built from `snowflake` unless given
  cronSpec: '@daily',
  shards: 32,
  egress: 'native',
  secretName: 'snowflakesecret',
  secretKey: 'PACHYDERM_SQL_PASSWORD',
  declaredSecrets: [{ name: 'snowflakesecret', keys: ['PACHYDERM_SQL_PASSWORD'] }],
  sourceRepos: [],
  allowFloatingTags: false,
  nativeSqlEgress: true,
  stages: {
    queries: { cpu: 0.1, memory: '128Mi', datumTries: 3 },
    ingest: { cpu: 1, memory: '2Gi', disk: '10Gi', datumTries: 3 },
    clean: { cpu: 0.5, memory: '1Gi', parallelism: 4, datumTries: 3 },
    features: { cpu: 1, memory: '2Gi', parallelism: 4, datumTries: 3 },
    train: { cpu: 2, memory: '8Gi', datumTries: 2 },
    predict: { cpu: 1, memory: '2Gi', parallelism: 4, datumTries: 3 },
    monitor: { cpu: 1, memory: '4Gi', datumTries: 2 },
    egress: { cpu: 0.5, memory: '1Gi', datumTries: 3 },
  },
}
