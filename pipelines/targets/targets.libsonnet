// Target registry and parameter resolution. `overrides` holds render-time strings (Jsonnet TLAs);
// empty strings mean "use the target's default".
local targets = {
  'local': import 'local.libsonnet',
  cluster: import 'cluster.libsonnet',
  'cluster-v2.8': import 'cluster-v2.8.libsonnet',
};

local nonEmpty(o) = { [k]: o[k] for k in std.objectFields(o) if o[k] != null && o[k] != '' };

local snowflakeUrl(s) =
  'snowflake://%s@%s/%s/%s?warehouse=%s' % [s.user, s.account, s.database, s.schema, s.warehouse]
  + (if std.get(s, 'role', '') != '' then '&role=' + s.role else '');

{
  names: std.objectFields(targets),

  // The resolved parameters of `target` (an object with every field of the target files, plus `url`).
  resolve(target, overrides={}):: (
    assert std.objectHas(targets, target) :
           'unknown target "%s" (known: %s)' % [target, std.join(', ', std.objectFields(targets))];
    local o = nonEmpty(overrides);
    local base = targets[target];
    local sf = std.get(base, 'snowflake', {}) + {
      [k]: o[k]
      for k in ['account', 'user', 'database', 'schema', 'warehouse', 'role']
      if std.objectHas(o, k)
    };
    base + {
      snowflake: sf,
      image: std.get(o, 'image', base.image),
      cronSpec: std.get(o, 'cronSpec', base.cronSpec),
      shards: if std.objectHas(o, 'shards') then std.parseInt(o.shards) else base.shards,
      url: if std.objectHas(o, 'url') then o.url
      else if base.url != null then base.url
      else snowflakeUrl(sf),
    }
  ),
}
