// Builders for Pachyderm 2.x pipeline specs (camelCase, the form both the 2.7 proto and the
// 2.8+ JSON schema accept). Every builder returns plain objects, so callers can extend them with `+`.
{
  // A pipeline spec. `extra` is merged last (description, parallelismSpec, egress, ...).
  pipeline(name, input, transform, extra={}):: {
    pipeline: { name: name },
    input: input,
    transform: transform,
  } + extra,

  // A pfs input node. `name` defaults to the repo, as in Pachyderm.
  pfs(repo, glob, name=null, branch=null):: {
    pfs: { repo: repo, glob: glob }
         + (if name != null then { name: name } else {})
         + (if branch != null then { branch: branch } else {}),
  },

  // A cron input node; its repo is `<pipeline>_<name>`.
  cron(name, spec, overwrite=true):: {
    cron: { name: name, spec: spec, overwrite: overwrite },
  },

  cross(inputs):: { cross: inputs },
  union(inputs):: { union: inputs },

  // A secret exposed as an environment variable (Pachyderm's SecretMount).
  secretEnv(name, key, envVar=key):: { name: name, key: key, envVar: envVar },

  // A transform running `cmd` in `image`. `datumBatching`: the user code runs once per worker and takes
  // each datum through the worker API's NextDatum (the churn stages' `stage_main` loop).
  transform(image, cmd, secrets=[], env={}, datumBatching=false):: {
    image: image,
    cmd: cmd,
  } + (if std.length(secrets) > 0 then { secrets: secrets } else {})
    + (if std.length(env) > 0 then { env: env } else {})
    + (if datumBatching then { datumBatching: true } else {}),

  // resourceRequests; `cpu` is a number of cores, `memory`/`disk` are k8s quantities.
  resources(cpu, memory, disk=null):: {
    cpu: cpu,
    memory: memory,
  } + (if disk != null then { disk: disk } else {}),

  // Common per-pipeline settings of a target: resource requests, parallelism, datumTries.
  // Any argument left null is omitted (Pachyderm's default applies).
  settings(resources=null, parallelism=null, datumTries=null):: (
    if resources != null then { resourceRequests: resources } else {}
  ) + (
    if parallelism != null then { parallelismSpec: { constant: parallelism } } else {}
  ) + (
    if datumTries != null then { datumTries: datumTries } else {}
  ),

  // Native SQL egress (Pachyderm <= 2.7.6 for Snowflake): the table is the first path component
  // of the output commit; the secret's value reaches the egress as PACHYDERM_SQL_PASSWORD.
  sqlEgress(url, columns=[], secretName='snowflakesecret', secretKey='PACHYDERM_SQL_PASSWORD', format='CSV'):: {
    egress: {
      sqlDatabase: {
        url: url,
        fileFormat: { type: format, columns: columns },
        secret: { name: secretName, key: secretKey },
      },
    },
  },
}
