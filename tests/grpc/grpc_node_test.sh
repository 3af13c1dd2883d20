#!/usr/bin/env bash
# Runs the official KurrentDB Node clients (@kurrent/kurrentdb-client, @eventstore/db-client) against a started `annals serve`.
#   grpc_node_test.sh <work dir for node_modules>     (ANNALS_BIN: directory of `annals`)
# The npm packages pinned by package-lock.json are installed into the work dir with `npm ci`,
# once (again when the lock file changes), so parallel builds do not share a node_modules.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:?usage: grpc_node_test.sh <work dir>}"
mkdir -p "$work"
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [ ! -d "$work/node_modules" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
fi
export NODE_PATH="$work/node_modules"
cd "$here"
exec node --test --test-concurrency=1 --test-timeout=120000 "$here/kurrentdb_client.test.js" \
  "$here/eventstore_client.test.js"
