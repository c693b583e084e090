#!/usr/bin/env bash
# binlake's main job on the bundled local setup: installs what is missing,
# builds, starts MariaDB (with the sample `shop` database), the Kafka broker
# and the schema registry, then runs connectors/shop.toml until Ctrl-C.
# A few sample changes are applied once binlake is streaming; watch them
# arrive with: python3 scripts/topic_dump.py shop.shop.customers
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$BINLAKE_ROOT"

bash scripts/install.sh
cargo build --locked --quiet
bash scripts/servers.sh start

admin_sql < scripts/sample/shop.sql

(
    # Give binlake a moment to store its start position, then change rows.
    sleep 8
    admin_sql < scripts/sample/changes.sql && log "sample changes applied; in a few seconds see them with: python3 scripts/delta_dump.py .data/delta/shop/customers (or scripts/topic_dump.py shop.shop.customers)"
) &

log "running binlake (Ctrl-C stops it)"
exec "$BINLAKE_BIN" run connectors/shop.toml --role all
