#!/usr/bin/env bash
# Every binlake benchmark, one command, one markdown document:
#   bash bench/run.sh [--quick]
# Installs what is missing (scripts/install.sh), builds the release binary
# (cargo build --release --locked, in CARGO_TARGET_DIR from scripts/env.sh),
# starts the local servers that are not running (scripts/servers.sh start)
# and stops those again on exit, then runs bench/run.py, which runs the
# benches (source, python-mysql-replication on the same binlog, the
# source's own pipeline and snapshot into librdkafka's mock cluster,
# snapshot, sink, sink catch-up, freshness), prints the document and writes
# it to bench/RESULTS.md.
# --quick runs small sizes (a few minutes) to check that everything works.
# Exits non-zero when any piece failed (the document says which, and why).
# Build, install and server messages go to stderr; stdout is the document.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$BINLAKE_ROOT"

bash scripts/install.sh >&2

log "building the release binary (target dir $CARGO_TARGET_DIR)"
cargo build --release --locked >&2
# The benches, and the registry if it has to be started, use this build.
export BINLAKE_BIN=$CARGO_TARGET_DIR/release/binlake BINLAKE_BENCH_BIN=$CARGO_TARGET_DIR/release/binlake

started=()
for s in mariadb kafka registry; do
    if ! bash scripts/servers.sh status "$s" | grep -q running; then started+=("$s"); fi
done
cleanup() { [ ${#started[@]} -eq 0 ] || bash scripts/servers.sh stop "${started[@]}" >&2; }
trap cleanup EXIT
bash scripts/servers.sh start >&2

python3 bench/run.py --bin "$BINLAKE_BIN" "$@"
