#!/usr/bin/env bash
# The web app's and the JavaScript SDK's suite, called by .ci/run from the
# repository root: rebuild sdk/js/dist and web/dist and fail if they differ
# from what is committed, run the SDK's unit tests, then the browser tests
# (the web app in headless Chromium against wac serve; phone.test.mjs calls
# a phone number with SIPp as the trunk).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--- web: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "packages"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
  else
    echo "not root: cannot install chromium"
  fi
fi
# Debian's sip-tester (SIPp): phone.test.mjs's trunk.
if ! command -v sipp >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sip-tester
  else
    echo "not root: cannot install sip-tester"
  fi
fi
node --version
for dir in sdk/js web test/web; do
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done

step "rebuild sdk/js/dist and web/dist; they must equal what is committed"
(cd sdk/js && npm run --silent build)
(cd web && npm run --silent build)
if ! git diff --exit-code --stat -- sdk/js/dist web/dist; then
  echo "the committed sdk/js/dist or web/dist differ from a rebuild: run npm run build in sdk/js and web, and commit dist/"
  exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- sdk/js/dist web/dist)
if [ -n "$untracked" ]; then
  echo "the rebuild made files that are not committed:"; echo "$untracked"; exit 1
fi

step "SDK: type check and unit tests"
(cd sdk/js && npm run --silent typecheck && npm test)

step "browser tests (test/web)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/wac" ./cmd/wac
(cd test/web && WAC_BIN="$work/wac" npm test)
