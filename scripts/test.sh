#!/usr/bin/env bash
# Set up and run every check: ruff, mypy (strict) and the whole pytest suite, which
# starts its own PostgreSQL server on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/ruff check pipeline_kit tests benchmarks
.venv/bin/ruff format --check pipeline_kit tests benchmarks
.venv/bin/mypy
.venv/bin/pytest "$@"
