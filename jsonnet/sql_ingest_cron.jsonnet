// Stand-alone form of the Snowflake import template, called like Pachyderm's own:
//   jsonnet -J jsonnet --tla-str name=my_import --tla-str url=snowflake://... --tla-str query='SELECT ...' \
//     --tla-str format=csv --tla-str cronSpec=@daily --tla-str secretName=snowflakesecret \
//     jsonnet/sql_ingest_cron.jsonnet
// Produces `<name>_queries` and `<name>` (see snowflake.libsonnet for the extra arguments).
local snowflake = import 'snowflake.libsonnet';

function(name, url, query, format, cronSpec, secretName, shards='8', header='true', image='churn-pachlet:dev')
  snowflake.sqlIngestCron(name, url, query, format, cronSpec, secretName, shards=shards, header=header, image=image)
