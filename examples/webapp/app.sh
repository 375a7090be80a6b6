#!/bin/sh
# webapp: "NAME VERSION" on / and "ok" on /health, served by busybox httpd.
#   NAME    = $PIPELINE_KIT_SERVICE, else "webapp"
#   VERSION = $PIPELINE_KIT_VERSION (set at deploy), else $APP_VERSION (baked in at build), else "unknown"
#   PORT    = $PORT, else 8080
# When its stage configures them, / also shows (one line each) $GREETING (a per-stage
# variable) and whether the API_TOKEN secret is present (never its value); /schema answers
# the schema version that /app/migrate.sh recorded in the /data volume, read at each request.
set -eu

name="${PIPELINE_KIT_SERVICE:-webapp}"
version="${PIPELINE_KIT_VERSION:-${APP_VERSION:-unknown}}"

state="$(mktemp -d "${TMPDIR:-/tmp}/webapp.XXXXXX")"
mkdir "$state/www"
{
    printf '%s %s\n' "$name" "$version"
    if [ -n "${GREETING:-}" ]; then printf '%s\n' "$GREETING"; fi
    if [ -n "${API_TOKEN+x}" ]; then
        if [ -n "$API_TOKEN" ]; then echo "api token: present"; else echo "api token: empty"; fi
    fi
} >"$state/www/index.html"
if [ -d /data ]; then ln -s /data/schema "$state/www/schema"; fi
printf 'ok\n' >"$state/www/health"
# Outside the web root, so it is not served: answer "/" as plain text.
printf '.html:text/plain; charset=utf-8\n' >"$state/httpd.conf"

exec httpd -f -p "${PORT:-8080}" -h "$state/www" -c "$state/httpd.conf"
