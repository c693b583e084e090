#!/usr/bin/env bash
# Installs what binlake's tests and demo need and is missing: MariaDB
# (Debian package), the tansu Kafka-protocol broker (cargo, cached outside the
# clone) or, with BINLAKE_BROKER=nisshi, the nisshi broker and PostgreSQL,
# the object stores the lake tests write to (moto's S3 server from PyPI,
# Azurite from npm, cached outside the clone), and the Python libraries
# the outside checks use (Delta readers: deltalake, DuckDB's delta extension,
# polars). Safe to run again.
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

if [ "$BINLAKE_BROKER" = tansu ] && [ ! -x "$TANSU_BIN" ]; then
    # Only the sqlite engine is usable; --locked avoids a dependency that no
    # longer compiles (see FACTS.md).
    log "building the tansu broker (about 13 minutes on 2 cores, once)"
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql \
        --root "$BINLAKE_CACHE/tools" --quiet
fi

if [ "$BINLAKE_BROKER" = nisshi ]; then
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
        log "installing PostgreSQL for nisshi (apt-get)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        as_root systemctl disable --now postgresql >/dev/null 2>&1 || as_root service postgresql stop >/dev/null 2>&1 || true
    fi
    if [ ! -x "$NISSHI_BIN" ]; then
        # nisshi 0.8.1's HTTP dependencies (rama 0.4) need rustc 1.96; use
        # the nightly toolchain when the default one is older.
        toolchain=()
        if ! rustc --version | awk '{split($2, v, "."); exit !(v[1] > 1 || v[2] >= 96)}'; then
            rustup run nightly rustc --version >/dev/null 2>&1 \
                || die "nisshi needs rustc 1.96 or newer (or a nightly toolchain); the default is $(rustc --version)"
            toolchain=(+nightly)
        fi
        log "building the nisshi broker (15–30 minutes on 2 cores, once)"
        cargo "${toolchain[@]}" install nisshi --version 0.8.1 --locked \
            --root "$BINLAKE_CACHE/tools" --quiet
    fi
fi

if ! python3 -c 'import confluent_kafka, fastavro, deltalake, pymysql, pytest, authlib, httpx, cachetools, pymysqlreplication, mysql_mimic' 2>/dev/null; then
    log "installing Python check tools (pip)"
    python3 -m pip install --quiet --disable-pip-version-check \
        pymysql confluent-kafka fastavro deltalake pyarrow authlib httpx cachetools pytest mysql-replication \
        mysql-mimic
fi
if ! python3 -c 'import moto.server, boto3, duckdb, duckdb_extensions, duckdb_extension_delta, duckdb_extension_httpfs, polars' 2>/dev/null; then
    # DuckDB's delta and httpfs (S3) extensions come as wheels, so no
    # network is needed at query time; 1.5.5 is the release they share.
    log "installing moto's S3 server and the Delta readers (pip)"
    python3 -m pip install --quiet --disable-pip-version-check \
        'moto[server]' boto3 duckdb==1.5.5 duckdb-extensions==1.5.5 duckdb-extension-delta==1.5.5 duckdb-extension-httpfs==1.5.5 polars
fi

if [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ]; then
    # 3.35.0 is the newest Azurite that runs on Node 20.
    command -v npm >/dev/null || die "npm (Node 20+) is needed for Azurite; install nodejs"
    log "installing Azurite 3.35.0 (npm) into $AZURITE_DIR"
    mkdir -p "$AZURITE_DIR"
    (cd "$AZURITE_DIR" && npm install --no-audit --no-fund --silent azurite@3.35.0 >/dev/null)
fi
log "dependencies present"
