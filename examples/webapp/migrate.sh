#!/bin/sh
# A schema migration, run by pipeline-kit as a before_switch hook: once for every stage a
# version enters, in a one-off container of the new version with that stage's configuration,
# after the new containers are healthy and before any traffic reaches them. It records the
# schema version in the stage's volume (/data), where the app reads it. A non-zero exit
# undoes the rollout: the new containers go, the old ones keep serving.
set -eu

target="${APP_VERSION:-${PIPELINE_KIT_VERSION:-unknown}}"
current="$(cat /data/schema 2>/dev/null || echo none)"
if [ "$current" = "$target" ]; then
    echo "schema already at $target"
    exit 0
fi
echo "migrating schema $current -> $target"
printf '%s\n' "$target" >/data/schema.new
mv /data/schema.new /data/schema
echo "schema now at $target"
