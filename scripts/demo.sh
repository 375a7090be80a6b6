#!/usr/bin/env bash
# The main job on the embedded defaults (SQLite state): a service is added with two stacks,
# given a prod endpoint, and a new version is promoted, dry-run first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pk="$PWD/.venv/bin/pipeline-kit"
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-kit-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
run() { printf '\n$ pipeline-kit %s\n' "$*"; "$pk" "$@"; }
run init
run service add webapp --image example/webapp --stacks 2 --version v0.1.0
run endpoint add web --service webapp --port 8080 --stage prod
run promote webapp v0.2.0 --to prod --dry-run
run promote webapp v0.2.0 --to prod
run promote webapp --to qa
run show services
run check
