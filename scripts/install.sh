#!/usr/bin/env bash
# Installs what binlake's tests and demo need and is missing: MariaDB
# (Debian package), the tansu Kafka-protocol broker (cargo, cached outside the
# clone), and the Python libraries the outside checks use. Safe to run again.
set -euo pipefail
source "$(dirname "$0")/env.sh"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v mariadbd >/dev/null || ! command -v mariadb >/dev/null || ! command -v openssl >/dev/null; then
    log "installing MariaDB and openssl (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client openssl >/dev/null
    # The package starts a system service; binlake runs its own private server.
    as_root systemctl disable --now mariadb >/dev/null 2>&1 || as_root service mariadb stop >/dev/null 2>&1 || true
fi

if [ ! -x "$TANSU_BIN" ]; then
    # Only the sqlite engine is usable; --locked avoids a dependency that no
    # longer compiles (see FACTS.md).
    log "building the tansu broker (about 13 minutes on 2 cores, once)"
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql \
        --root "$BINLAKE_CACHE/tools" --quiet
fi

if ! python3 -c 'import confluent_kafka, fastavro, deltalake, pymysql, pytest, authlib, httpx, cachetools, pymysqlreplication, mysql_mimic' 2>/dev/null; then
    log "installing Python check tools (pip)"
    python3 -m pip install --quiet --disable-pip-version-check \
        pymysql confluent-kafka fastavro deltalake pyarrow authlib httpx cachetools pytest mysql-replication \
        mysql-mimic
fi
log "dependencies present"
