#!/usr/bin/env bash
# The REST API's OpenAPI document, called by .ci/run from the repository
# root: Redocly's linter (test/openapi: its version is pinned in the
# lockfile, its rules in redocly.yaml) on internal/sapi/openapi.yaml, the
# document /sapi/openapi.json serves.
set -euo pipefail
cd "$(dirname "$0")/../test/openapi"

# No telemetry and no update check: CI reaches the npm registry only.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
node --version
npm ci --no-audit --no-fund --loglevel=error
npm run --silent lint
