#!/usr/bin/env bash
# Starts, stops or reports the local servers binlake's tests and demo use:
#   mariadb   private MariaDB, binlog ROW / FULL image / FULL row metadata
#   kafka     tansu (Kafka protocol, sqlite storage), or with
#             BINLAKE_BROKER=nisshi nisshi on a private PostgreSQL
#   registry  binlake's embedded schema registry
#   s3        moto's S3 server (conditional writes, as Delta commits need)
#   azurite   Azurite's blob service (Azure Storage emulator)
# Usage: scripts/servers.sh start|stop|status [mariadb|kafka|registry|s3|azurite ...]
# Idempotent: starting a running server does nothing; stop only kills the
# PIDs this script started.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$RUN_DIR" "$LOG_DIR"

MYSQL_DIR=$BINLAKE_DATA/mariadb

mariadb_sql() { mariadb --no-defaults --socket="$MYSQL_DIR/sock" -uroot --default-character-set=utf8mb4 "$@"; }

# A private CA and a server certificate for TLS tests (the certificate
# names "localhost" only, so a client connecting to 127.0.0.1 can tell
# ssl-mode=verify_ca from verify_identity), and an unrelated CA a client
# must refuse, and a client certificate for accounts that REQUIRE X509.
make_tls_files() {
    local dir=$BINLAKE_MYSQL_TLS_DIR
    [ -f "$dir/server.pem" ] && [ -f "$dir/other-ca.pem" ] && [ -f "$dir/client.pem" ] && return
    mkdir -p "$dir"
    log "creating TLS certificates in $dir"
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=binlake test CA" \
            -keyout ca-key.pem -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout server-key.pem -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem 2>/dev/null
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=unrelated CA" \
            -keyout other-ca-key.pem -out other-ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=binlake test client" \
            -keyout client-key.pem -out client.csr 2>/dev/null
        printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
            -extfile client.ext -out client.pem 2>/dev/null
        rm -f server.csr server.ext client.csr client.ext
    ) || die "openssl could not create the TLS test certificates in $dir"
}

start_mariadb() {
    if pid_alive "$MYSQL_DIR/pid"; then log "mariadb already running on $BINLAKE_MYSQL_PORT"; return; fi
    if [ ! -d "$MYSQL_DIR/mysql" ]; then
        log "initialising MariaDB in $MYSQL_DIR"
        mkdir -p "$MYSQL_DIR"
        mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$MYSQL_DIR" \
            --auth-root-authentication-method=normal >"$LOG_DIR/mariadb-install.log" 2>&1 \
            || die "mariadb-install-db failed; see $LOG_DIR/mariadb-install.log"
        local fresh=1
    fi
    ensure_port_free "$BINLAKE_MYSQL_PORT" "MariaDB (BINLAKE_MYSQL_PORT)"
    make_tls_files
    log "starting mariadb on 127.0.0.1:$BINLAKE_MYSQL_PORT"
    nohup mariadbd --no-defaults --user="$(id -un)" --datadir="$MYSQL_DIR" \
        --socket="$MYSQL_DIR/sock" --pid-file="$MYSQL_DIR/pid" \
        --port="$BINLAKE_MYSQL_PORT" --bind-address=127.0.0.1 \
        --log-bin=mysql-bin --binlog-format=ROW --binlog-row-image=FULL \
        --binlog-row-metadata=FULL --server-id=1 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        --max-allowed-packet=256M --innodb-buffer-pool-size=256M \
        --ssl-ca="$BINLAKE_MYSQL_TLS_DIR/ca.pem" --ssl-cert="$BINLAKE_MYSQL_TLS_DIR/server.pem" \
        --ssl-key="$BINLAKE_MYSQL_TLS_DIR/server-key.pem" \
        --log-error="$LOG_DIR/mariadb.err" >"$LOG_DIR/mariadb.out" 2>&1 &
    for _ in $(seq 120); do
        if mariadb-admin --no-defaults --socket="$MYSQL_DIR/sock" -uroot ping >/dev/null 2>&1; then break; fi
        sleep 0.5
    done
    mariadb-admin --no-defaults --socket="$MYSQL_DIR/sock" -uroot ping >/dev/null 2>&1 \
        || die "mariadb did not come up; see $LOG_DIR/mariadb.err"
    if [ "${fresh:-0}" = 1 ]; then
        # install-db leaves anonymous ''@'localhost' accounts that shadow
        # 'cdc'@'%' for local clients: drop them.
        mariadb_sql <<SQL
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS 'cdc'@'%' IDENTIFIED BY '$BINLAKE_MYSQL_PASSWORD';
CREATE USER IF NOT EXISTS 'cdc'@'localhost' IDENTIFIED BY '$BINLAKE_MYSQL_PASSWORD';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT, RELOAD ON *.* TO 'cdc'@'%';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT, RELOAD ON *.* TO 'cdc'@'localhost';
CREATE USER IF NOT EXISTS 'binlake_admin'@'%' IDENTIFIED BY '$BINLAKE_ADMIN_PASSWORD';
CREATE USER IF NOT EXISTS 'binlake_admin'@'localhost' IDENTIFIED BY '$BINLAKE_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'binlake_admin'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'binlake_admin'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    fi
    log "mariadb ready"
}

# Stops the process in a pid file: SIGTERM, then SIGKILL after a grace period.
stop_by_pidfile() {
    local name=$1 file=$2 grace=$3
    if pid_alive "$file"; then
        log "stopping $name"
        local pid; pid=$(cat "$file")
        kill "$pid"
        for _ in $(seq $((grace * 4))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
    fi
}

# MariaDB flushes on shutdown: give it longer (it removes its own pid file).
stop_mariadb() { stop_by_pidfile mariadb "$MYSQL_DIR/pid" 30; }

start_kafka() {
    case $BINLAKE_BROKER in
        tansu) start_tansu ;;
        nisshi) start_nisshi ;;
        *) die "unknown BINLAKE_BROKER '$BINLAKE_BROKER' (tansu, nisshi)" ;;
    esac
}

stop_kafka() {
    stop_pidfile kafka
    stop_kafka_postgres
}

start_tansu() {
    if pid_alive "$RUN_DIR/kafka.pid"; then log "kafka (tansu) already running on $BINLAKE_KAFKA_PORT"; return; fi
    [ -x "$TANSU_BIN" ] || die "tansu is not installed at $TANSU_BIN; run scripts/install.sh"
    ensure_port_free "$BINLAKE_KAFKA_PORT" "Kafka (BINLAKE_KAFKA_PORT)"
    mkdir -p "$BINLAKE_DATA/kafka"
    log "starting kafka (tansu) on 127.0.0.1:$BINLAKE_KAFKA_PORT"
    # tansu reads the sqlite path relative to its working directory.
    (cd "$BINLAKE_DATA/kafka" && exec nohup "$TANSU_BIN" broker \
        --listener-url "tcp://127.0.0.1:$BINLAKE_KAFKA_PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$BINLAKE_KAFKA_PORT" \
        --storage-engine "sqlite://tansu.db" \
        >"$LOG_DIR/kafka.log" 2>&1) &
    echo $! >"$RUN_DIR/kafka.pid"
    wait_port "$BINLAKE_KAFKA_PORT" kafka "$RUN_DIR/kafka.pid"
    # tansu 0.6 reads record headers with a full scan of its header table:
    # after a million records every fetch crawls. An index fixes it.
    for _ in $(seq 20); do
        python3 - "$BINLAKE_DATA/kafka/tansu.db" <<'PY' && break
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
db.execute("CREATE INDEX IF NOT EXISTS header_topition_offset_id ON header (topition, offset_id)")
db.commit()
PY
        sleep 0.5
    done
    log "kafka ready"
}

KAFKA_PG_DIR=$BINLAKE_DATA/kafka/pg

# PostgreSQL refuses to run as root: as root, its files and process belong
# to the `postgres` account the Debian package creates.
as_pg_user() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$dir" ] || die "PostgreSQL is not installed; run BINLAKE_BROKER=nisshi scripts/install.sh"
    echo "$dir/$1"
}

start_kafka_postgres() {
    if as_pg_user "$(pg_bin pg_ctl)" -D "$KAFKA_PG_DIR" status >/dev/null 2>&1; then return; fi
    if [ ! -f "$KAFKA_PG_DIR/PG_VERSION" ]; then
        log "initialising PostgreSQL for nisshi in $KAFKA_PG_DIR"
        mkdir -p "$KAFKA_PG_DIR"
        [ "$(id -u)" = 0 ] && chown postgres "$KAFKA_PG_DIR"
        as_pg_user "$(pg_bin initdb)" -D "$KAFKA_PG_DIR" -U postgres --auth=trust \
            >"$LOG_DIR/kafka-pg-init.log" 2>&1 \
            || die "initdb failed; see $LOG_DIR/kafka-pg-init.log"
    fi
    ensure_port_free "$BINLAKE_KAFKA_PG_PORT" "nisshi's PostgreSQL (BINLAKE_KAFKA_PG_PORT)"
    log "starting PostgreSQL for nisshi on 127.0.0.1:$BINLAKE_KAFKA_PG_PORT"
    # Its log lives in the data directory: the postgres account may not
    # write to $LOG_DIR.
    as_pg_user "$(pg_bin pg_ctl)" -D "$KAFKA_PG_DIR" -w -t 60 -l "$KAFKA_PG_DIR/server.log" \
        -o "-p $BINLAKE_KAFKA_PG_PORT -c listen_addresses=127.0.0.1 -k $KAFKA_PG_DIR" start >/dev/null \
        || die "PostgreSQL did not start; see $KAFKA_PG_DIR/server.log"
    if ! psql -h 127.0.0.1 -p "$BINLAKE_KAFKA_PG_PORT" -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'nisshi'" | grep -q 1; then
        psql -h 127.0.0.1 -p "$BINLAKE_KAFKA_PG_PORT" -U postgres -qc "CREATE DATABASE nisshi" \
            || die "could not create nisshi's database"
    fi
}

stop_kafka_postgres() {
    [ -f "$KAFKA_PG_DIR/postmaster.pid" ] || return 0
    log "stopping nisshi's PostgreSQL"
    as_pg_user "$(pg_bin pg_ctl)" -D "$KAFKA_PG_DIR" -m fast -w stop >/dev/null 2>&1 || true
}

start_nisshi() {
    if pid_alive "$RUN_DIR/kafka.pid"; then log "kafka (nisshi) already running on $BINLAKE_KAFKA_PORT"; return; fi
    [ -x "$NISSHI_BIN" ] || die "nisshi is not installed at $NISSHI_BIN; run BINLAKE_BROKER=nisshi scripts/install.sh"
    ensure_port_free "$BINLAKE_KAFKA_PORT" "Kafka (BINLAKE_KAFKA_PORT)"
    start_kafka_postgres
    log "starting kafka (nisshi, PostgreSQL storage) on 127.0.0.1:$BINLAKE_KAFKA_PORT"
    nohup "$NISSHI_BIN" broker \
        --listener-url "tcp://127.0.0.1:$BINLAKE_KAFKA_PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$BINLAKE_KAFKA_PORT" \
        --storage-engine "postgres://postgres@127.0.0.1:$BINLAKE_KAFKA_PG_PORT/nisshi" \
        >"$LOG_DIR/kafka.log" 2>&1 &
    echo $! >"$RUN_DIR/kafka.pid"
    wait_port "$BINLAKE_KAFKA_PORT" kafka "$RUN_DIR/kafka.pid"
    log "kafka ready"
}

start_registry() {
    if pid_alive "$RUN_DIR/registry.pid"; then log "registry already running on $BINLAKE_REGISTRY_PORT"; return; fi
    [ -x "$BINLAKE_BIN" ] || die "binlake is not built at $BINLAKE_BIN; run cargo build"
    ensure_port_free "$BINLAKE_REGISTRY_PORT" "the registry (BINLAKE_REGISTRY_PORT)"
    log "starting schema registry on 127.0.0.1:$BINLAKE_REGISTRY_PORT"
    nohup "$BINLAKE_BIN" registry --listen "127.0.0.1:$BINLAKE_REGISTRY_PORT" \
        --data-dir "$BINLAKE_DATA/registry" >"$LOG_DIR/registry.log" 2>&1 &
    echo $! >"$RUN_DIR/registry.pid"
    wait_port "$BINLAKE_REGISTRY_PORT" registry "$RUN_DIR/registry.pid"
    log "registry ready"
}

start_s3() {
    if pid_alive "$RUN_DIR/s3.pid"; then log "s3 (moto) already running on $BINLAKE_S3_PORT"; return; fi
    command -v moto_server >/dev/null || die "moto_server is not installed; run scripts/install.sh"
    ensure_port_free "$BINLAKE_S3_PORT" "S3 (BINLAKE_S3_PORT)"
    log "starting s3 (moto) on 127.0.0.1:$BINLAKE_S3_PORT"
    # In memory: each start is an empty store.
    nohup moto_server -H 127.0.0.1 -p "$BINLAKE_S3_PORT" >"$LOG_DIR/s3.log" 2>&1 &
    echo $! >"$RUN_DIR/s3.pid"
    wait_port "$BINLAKE_S3_PORT" s3 "$RUN_DIR/s3.pid"
    # moto loads its S3 backend on the first request, which can take
    # seconds on a busy machine: made here, not by the first test.
    python3 -c "import urllib.request, urllib.error
try: urllib.request.urlopen('http://127.0.0.1:$BINLAKE_S3_PORT/', timeout=120)
except urllib.error.HTTPError: pass" || die "s3 (moto) does not answer on $BINLAKE_S3_PORT (see $LOG_DIR/s3.log)"
    log "s3 ready"
}

start_azurite() {
    if pid_alive "$RUN_DIR/azurite.pid"; then log "azurite already running on $BINLAKE_AZURITE_PORT"; return; fi
    local bin=$AZURITE_DIR/node_modules/.bin/azurite-blob
    [ -x "$bin" ] || die "Azurite is not installed at $AZURITE_DIR; run scripts/install.sh"
    ensure_port_free "$BINLAKE_AZURITE_PORT" "Azurite (BINLAKE_AZURITE_PORT)"
    mkdir -p "$BINLAKE_DATA/azurite"
    log "starting azurite (blob) on 127.0.0.1:$BINLAKE_AZURITE_PORT"
    nohup "$bin" --blobHost 127.0.0.1 --blobPort "$BINLAKE_AZURITE_PORT" \
        --location "$BINLAKE_DATA/azurite" --skipApiVersionCheck --loose --silent \
        >"$LOG_DIR/azurite.log" 2>&1 &
    echo $! >"$RUN_DIR/azurite.pid"
    wait_port "$BINLAKE_AZURITE_PORT" azurite "$RUN_DIR/azurite.pid"
    log "azurite ready"
}

stop_pidfile() {
    stop_by_pidfile "$1" "$RUN_DIR/$1.pid" 10
    rm -f "$RUN_DIR/$1.pid"
}

status_of() {
    case $1 in
        mariadb) pid_alive "$MYSQL_DIR/pid" && echo "mariadb: running (port $BINLAKE_MYSQL_PORT)" || echo "mariadb: stopped" ;;
        *) pid_alive "$RUN_DIR/$1.pid" && echo "$1: running" || echo "$1: stopped" ;;
    esac
}

action=${1:-}; shift || true
services=("$@"); [ ${#services[@]} -gt 0 ] || services=(mariadb kafka registry s3 azurite)
for s in "${services[@]}"; do
    case $s in mariadb|kafka|registry|s3|azurite) ;; *) die "unknown server '$s' (mariadb, kafka, registry, s3, azurite)" ;; esac
done
case $action in
    start) for s in "${services[@]}"; do "start_$s"; done ;;
    stop)
        for s in "${services[@]}"; do
            case $s in mariadb) stop_mariadb ;; kafka) stop_kafka ;; *) stop_pidfile "$s" ;; esac
        done ;;
    status) for s in "${services[@]}"; do status_of "$s"; done ;;
    *) die "usage: scripts/servers.sh start|stop|status [mariadb|kafka|registry|s3|azurite ...]" ;;
esac
