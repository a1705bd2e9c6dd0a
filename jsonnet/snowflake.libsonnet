// The Snowflake import template: the interface of Pachyderm's `sql_ingest_cron.jsonnet`
// (function(name, url, query, format, cronSpec, secretName, ...)), running our own images.
//
// It returns the two pipelines of Pachyderm's template:
//   <queries pipeline>  cron input `in` (overwrite: true); writes /pfs/out/0000 = "-- <tick time>" + query,
//                       so every tick is a new datum;
//   <name>              pfs input `queries` (glob /*) on the queries pipeline; runs the query in the
//                       warehouse and writes CSV shards split by a stable hash of MSNO.
// Naming: Pachyderm names them `<name>_queries` and `<name>`; that stays the default here. Our DAG
// passes `queriesName` explicitly (churn_train_queries -> churn_train_data), because its contract
// names the data pipeline `<prefix>_data`.
// Differences from Pachyderm's template, all extra arguments with defaults: `shards` (CSV shards
// written, one datum each downstream), `header` (true: a header row, the opposite of Pachyderm's
// `hasHeader='false'` default, because our clean stage reads columns by name), `image`, `settings`
// (resourceRequests / parallelismSpec / datumTries merged into the ingest pipeline) and `queriesSettings`.
// Jsonnet --tla-str values are strings, so `shards` and `header` accept "8" / "true" too.
local pach = import 'pachyderm.libsonnet';

local toBool(v) = if std.isBoolean(v) then v else std.asciiLower(std.toString(v)) == 'true';
local toInt(v) = if std.isNumber(v) then v else std.parseInt(v);

{
  sqlIngestCron(
    name,
    url,
    query,
    format,
    cronSpec,
    secretName,
    shards=8,
    header=true,
    image='churn-pachlet:dev',
    queriesName=null,
    settings={},
    queriesSettings={},
  )::
    local fmt = std.asciiLower(format);
    local nShards = toInt(shards);
    local queriesPipeline = if queriesName == null then name + '_queries' else queriesName;
    assert fmt == 'csv' : 'sqlIngestCron: format must be "csv" (got "%s")' % format;
    assert nShards >= 1 && nShards <= 100 : 'sqlIngestCron: shards must be 1..100 (got %d)' % nShards;
    [
      pach.pipeline(
        queriesPipeline,
        pach.cron('in', cronSpec, overwrite=true),
        pach.transform(image, ['churn-queries', '--tick-dir', '/pfs/in', '--query', query, '--out', '/pfs/out']),
        { description: 'Writes the %s query with the cron tick time (one datum per tick).' % name }
        + queriesSettings,
      ),
      pach.pipeline(
        name,
        pach.pfs(queriesPipeline, '/*', name='queries'),
        pach.transform(
          image,
          ['churn-ingest', '--queries', '/pfs/queries', '--url', url, '--shards', std.toString(nShards)]
          + (if toBool(header) then [] else ['--no-header'])
          + ['--out', '/pfs/out'],
          secrets=[pach.secretEnv(secretName, 'PACHYDERM_SQL_PASSWORD')],
        ),
        { description: 'Runs the %s query in the warehouse; writes %d CSV shards by hash of MSNO.' % [name, nShards] }
        + settings,
      ),
    ],
}
