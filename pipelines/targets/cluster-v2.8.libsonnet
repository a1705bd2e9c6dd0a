// Target `cluster-v2.8`: Pachyderm 2.8+, whose pachd no longer ships the Snowflake driver. Same DAG
// and parameters as `cluster`, but churn_predict has no native egress; a `churn_egress` pipeline
// (glob `/` on churn_predict) runs churn-egress, which replaces the table in one transaction with
// the semantics of egress.sqlDatabase.
(import 'cluster.libsonnet') + {
  name: 'cluster-v2.8',
  egress: 'container',
  // `churn validate` rejects egress.sqlDatabase on this target
  nativeSqlEgress: false,
}
