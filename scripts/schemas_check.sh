#!/usr/bin/env bash
# CI's check of schemas/: every subject file against its version at the
# base commit, at the compatibility level the connector files give it
# (BACKWARD by default). Offline: needs git and the built binary only.
# The base is BINLAKE_SCHEMAS_BASE (e.g. a pull request's merge base),
# else the commit before HEAD, else HEAD itself (a first commit).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$BINLAKE_ROOT"

base=${BINLAKE_SCHEMAS_BASE:-}
if [ -z "$base" ]; then
    if git rev-parse --verify --quiet 'HEAD~1^{commit}' >/dev/null; then base=HEAD~1; else base=HEAD; fi
fi
connectors=()
for f in connectors/*.toml; do connectors+=(--connector "$f"); done
log "binlake schemas check --against $base"
"$BINLAKE_BIN" schemas check --against "$base" --dir schemas "${connectors[@]}"
