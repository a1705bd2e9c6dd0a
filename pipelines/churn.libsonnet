// The churn DAG, built from the jsonnet/ library for one resolved target (targets.libsonnet).
//   churn_train_queries -> churn_train_data -> churn_train_clean -> churn_train_features -> churn_model
//   churn_score_queries -> churn_score_data -> churn_score_clean -> churn_score_features
//   cross(churn_score_features /*, churn_model /) -> churn_predict -> egress (CHURN_SCORES table)
//   churn_outcomes_queries -> churn_outcomes_data (CHURN_OUTCOMES; read by nothing but the monitor)
//   cross(churn_predict /, churn_model /, churn_score_features /, churn_outcomes_data /) -> churn_monitor
local pach = import 'pachyderm.libsonnet';
local snowflake = import 'snowflake.libsonnet';

local scoreColumns = ['MSNO', 'CHURN_PROBABILITY', 'CHURN_PREDICTION', 'MODEL_COMMIT', 'GLOBAL_ID', 'SCORED_AT'];

// pachyderm.settings() from a target's per-stage entry.
local stageSettings(t, stage) =
  local s = std.get(t.stages, stage, {});
  pach.settings(
    resources=if std.objectHas(s, 'cpu') then pach.resources(s.cpu, s.memory, std.get(s, 'disk')) else null,
    parallelism=std.get(s, 'parallelism'),
    datumTries=std.get(s, 'datumTries'),
  );

// ingest -> clean -> features for one prefix (churn_train / churn_score).
local branch(t, prefix, query, what) =
  snowflake.sqlIngestCron(
    name=prefix + '_data',
    url=t.url,
    query=query,
    format='csv',
    cronSpec=t.cronSpec,
    secretName=t.secretName,
    shards=t.shards,
    header=true,
    image=t.image,
    queriesName=prefix + '_queries',
    settings=stageSettings(t, 'ingest'),
    queriesSettings=stageSettings(t, 'queries'),
  ) + [
    pach.pipeline(
      prefix + '_clean',
      pach.pfs(prefix + '_data', '/*', name='data'),
      pach.transform(t.image, ['churn-clean', '--input', '/pfs/data', '--out', '/pfs/out'], datumBatching=true),
      { description: 'Validates the %s rows of each shard; bad rows go to /quarantine with counts.' % what }
      + stageSettings(t, 'clean'),
    ),
    pach.pipeline(
      prefix + '_features',
      pach.pfs(prefix + '_clean', '/data/*', name='clean'),
      pach.transform(t.image, ['churn-features', '--input', '/pfs/clean', '--out', '/pfs/out'], datumBatching=true),
      { description: 'Builds the model features of each clean %s shard.' % what }
      + stageSettings(t, 'features'),
    ),
  ];

// The campaign policy behind CHURN_PREDICTION (churn-train flags): a target may set `campaign`, e.g.
// { policy: 'expected-value', offerCost: '30', memberValue: '400' }; default: contact the top decile.
// Values are strings (as flags; Jsonnet prints 0.1 as 0.10000000000000001).
local defaultCampaign = { policy: 'top-share', contactShare: '0.1' };
local str(v) = if std.isString(v) then v else std.toString(v);
local campaignArgs(t) =
  local c = defaultCampaign + std.get(t, 'campaign', {});
  ['--policy', c.policy]
  + (if c.policy == 'top-share' then ['--contact-share', str(c.contactShare)]
     else ['--offer-cost', str(c.offerCost), '--member-value', str(c.memberValue)]);

// Monitoring: the outcomes ingest (its own cron, ticked when outcomes arrive) and churn_monitor.
local monitor(t) =
  snowflake.sqlIngestCron(
    name='churn_outcomes_data',
    url=t.url,
    query=importstr 'sql/outcomes.sql',
    format='csv',
    cronSpec=t.cronSpec,
    secretName=t.secretName,
    shards=1,
    header=true,
    image=t.image,
    queriesName='churn_outcomes_queries',
    settings=stageSettings(t, 'ingest'),
    queriesSettings=stageSettings(t, 'queries'),
  ) + [
    pach.pipeline(
      'churn_monitor',
      pach.cross([
        pach.pfs('churn_predict', '/', name='predict'),
        pach.pfs('churn_model', '/', name='model'),
        pach.pfs('churn_score_features', '/', name='features'),
        pach.pfs('churn_outcomes_data', '/', name='outcomes'),
      ]),
      pach.transform(
        t.image,
        ['churn', 'monitor', '--predict', '/pfs/predict', '--model', '/pfs/model', '--features',
         '/pfs/features', '--outcomes', '/pfs/outcomes', '--out', '/pfs/out'],
      ),
      { description: 'Realized AUC, log loss, calibration and top-decile recall per model commit once outcomes exist; PSI per feature of every predict job.' }
      + stageSettings(t, 'monitor'),
    ),
  ];

{
  scoreColumns: scoreColumns,

  // Training: ingest the TRAIN window, clean, features, fit the model.
  train(t):: branch(t, 'churn_train', importstr 'sql/train.sql', 'training') + [
    pach.pipeline(
      'churn_model',
      pach.pfs('churn_train_features', '/', name='features'),
      pach.transform(
        t.image,
        ['churn-train', '--input', '/pfs/features', '--out', '/pfs/out', '--seed', '42'] + campaignArgs(t),
      ),
      { description: 'Trains the churn model on all feature shards; writes metrics and a model card.' }
      + stageSettings(t, 'train'),
    ),
  ],

  // Scoring: ingest the SCORE window, clean, features, predict with the current model, egress.
  score(t)::
    local egressContainer = t.egress == 'container';
    assert t.egress == 'native' || egressContainer : 'target egress must be "native" or "container"';
    branch(t, 'churn_score', importstr 'sql/score.sql', 'scoring') + [
      pach.pipeline(
        'churn_predict',
        pach.cross([
          pach.pfs('churn_score_features', '/*', name='features'),
          pach.pfs('churn_model', '/', name='model'),
        ]),
        pach.transform(
          t.image,
          ['churn-predict', '--features', '/pfs/features', '--model', '/pfs/model', '--out', '/pfs/out'],
          datumBatching=true,
        ),
        { description: 'Scores each feature shard with the model; writes /CHURN_SCORES/<shard>.csv with lineage columns.' }
        + stageSettings(t, 'predict')
        + (if egressContainer then {}
           else pach.sqlEgress(t.url, scoreColumns, secretName=t.secretName, secretKey=t.secretKey)),
      ),
    ] + (
      if egressContainer then [
        pach.pipeline(
          'churn_egress',
          pach.pfs('churn_predict', '/', name='predict'),
          pach.transform(
            t.image,
            ['churn-egress', '--input', '/pfs/predict', '--url', t.url, '--format', 'CSV',
             '--columns', std.join(',', scoreColumns)],
            secrets=[pach.secretEnv(t.secretName, t.secretKey, 'PACHYDERM_SQL_PASSWORD')],
          ),
          { description: 'Replaces the CHURN_SCORES table with the predict output in one transaction (egress.sqlDatabase semantics, for Pachyderm 2.8+).' }
          + stageSettings(t, 'egress'),
        ),
      ] else []
    ) + monitor(t),
}
