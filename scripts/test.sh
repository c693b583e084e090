#!/usr/bin/env bash
# The test command: installs what is missing, builds, starts the local
# servers (MariaDB, Kafka broker, schema registry), runs the Rust and Python
# test suites against them, then stops the servers it started.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh --test it
# registry_api::, the Rust integration tests of one module). CI (.ci/run)
# runs `cargo fmt --check` and clippy before it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$BINLAKE_ROOT"

bash scripts/install.sh

log "building (target dir $CARGO_TARGET_DIR)"
cargo build --locked --quiet
cargo test --locked --no-run --quiet

started=()
for s in mariadb kafka registry s3 azurite; do
    if ! bash scripts/servers.sh status "$s" | grep -q running; then started+=("$s"); fi
done
cleanup() { [ ${#started[@]} -eq 0 ] || bash scripts/servers.sh stop "${started[@]}"; }
trap cleanup EXIT
bash scripts/servers.sh start

log "cargo test"
cargo test --locked "$@"
log "python checks"
python3 -m pytest -q tests/python
