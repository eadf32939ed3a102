#!/usr/bin/env bash
# The lab of shared/LAB.md on one machine: `make lab` (up) and `make lab-down` (down).
#
#   control 127.0.0.10  HAProxy :80 (admin socket), Nagios Core, labcontroller
#   node1   127.0.0.11  labagent :7443 (mTLS; labcontroller.crt may deploy, nagios.crt
#                       only read), MariaDB :3306, the todo app :8000
#   node2   127.0.0.12  the same
#
# Everything it starts lives under $LAB_DIR (default ./lab): data, logs, pid
# files, certificates and secrets (0600). `up` is safe to re-run: it starts
# only what is not running and changes nothing that is already right.
# Addresses and names can be moved (tests do) with LAB_CONTROL_IP,
# LAB_NODE1_IP, LAB_NODE2_IP, LAB_HTTP_PORT, LAB_NODE1_NAME, LAB_NODE2_NAME
# and LAB_IMAGE.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$(go env GOPATH)/bin:/usr/sbin:/sbin:$PATH"
LAB_DIR=${LAB_DIR:-$ROOT/lab}
CONTROL_IP=${LAB_CONTROL_IP:-127.0.0.10}
NODE_IPS=("${LAB_NODE1_IP:-127.0.0.11}" "${LAB_NODE2_IP:-127.0.0.12}")
HTTP_PORT=${LAB_HTTP_PORT:-80}
NODES=("${LAB_NODE1_NAME:-node1}" "${LAB_NODE2_NAME:-node2}")
IMAGE=${LAB_IMAGE:-labfleet/todo}
BIN=$ROOT/bin

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "lab: $*" >&2; exit 1; }
ctl() { "$BIN/labcontroller" -i "$LAB_DIR/inventory.ini" "$@"; }
alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
secret() { # secret FILE: make a random secret once
  [[ -s $1 ]] || { head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$1"; chmod 600 "$1"; }
}
wait_for() { # wait_for SECONDS WHAT CMD...
  local n=$(( $1 * 10 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    (( n-- > 0 )) || die "$what did not come up; see $LAB_DIR/log"
    sleep 0.1
  done
}

mariadb_up() { # mariadb_up INDEX IP
  local i=$1 ip=$2 d=$LAB_DIR/node$1/mysql
  local pid=$LAB_DIR/run/mariadb-node$i.pid sock=$LAB_DIR/run/mariadb-node$i.sock pw=$LAB_DIR/secrets/mariadb-root-node$i
  secret "$pw"
  if [[ ! -d $d/mysql ]]; then
    mkdir -p "$d"
    mariadb-install-db --no-defaults --user=root --datadir="$d" --auth-root-authentication-method=normal \
      --skip-test-db >"$LAB_DIR/log/mariadb-install-node$i.log" 2>&1 || die "mariadb-install-db failed; see $LAB_DIR/log"
    touch "$d/.fresh"
  fi
  if ! alive "$pid"; then
    setsid mariadbd --no-defaults --user=root --datadir="$d" --bind-address="$ip" --port=3306 --socket="$sock" \
      --pid-file="$pid" --server-id="$i" --log-bin=mysql-bin --log-slave-updates --binlog-format=ROW \
      --relay-log=relay-bin --skip-name-resolve --innodb-buffer-pool-size=64M --performance-schema=OFF \
      --log-error="$LAB_DIR/log/mariadb-node$i.err" >/dev/null 2>&1 &
    wait_for 60 "MariaDB on node$i" test -S "$sock"
  fi
  if [[ -f $d/.fresh ]]; then
    # root gets a password and may log in over TCP from loopback (the
    # agent); none of this goes to the binlog, so replication starts clean.
    mariadb --no-defaults --socket="$sock" -uroot <<SQL
SET SESSION sql_log_bin=0;
DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'root'@'$(hostname)';
ALTER USER 'root'@'localhost' IDENTIFIED BY '$(cat "$pw")';
CREATE USER IF NOT EXISTS 'root'@'127.%' IDENTIFIED BY '$(cat "$pw")';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.%' WITH GRANT OPTION;
SQL
    rm "$d/.fresh"
  fi
}

agent_up() { # agent_up INDEX IP
  local i=$1 ip=$2 pid=$LAB_DIR/run/agent-node$1.pid c=$LAB_DIR/certs n=${NODES[$(($1-1))]}
  alive "$pid" && return
  setsid "$BIN/labagent" --node-name "$n" --listen "$ip:7443" --state-dir "$LAB_DIR/node$i/agent" \
    --tls-cert "$c/$n.crt" --tls-key "$c/$n.key" --tls-client-ca "$c/ca.crt" \
    --metrics-listen "$ip:9443" --mariadb-addr "$ip:3306" --mariadb-password-file "$LAB_DIR/secrets/mariadb-root-node$i" \
    --allow-host-network --agent-check-listen "$ip:7444" --agent-check-app todo \
    >>"$LAB_DIR/log/agent-node$i.log" 2>&1 &
  echo $! > "$pid"
}

haproxy_up() {
  local pid=$LAB_DIR/run/haproxy.pid cfg=$LAB_DIR/haproxy.cfg backend
  # node1 active, node2 backup, each asking its node's labagent (agent-check)
  # whether the node may serve: the backend labcontroller writes for the inventory.
  backend=$(ctl haproxy config --agent-check) || die "labcontroller haproxy config failed"
  cat > "$cfg.new" <<CFG
global
    stats socket $LAB_DIR/run/haproxy.sock mode 600 level admin
    stats socket ipv4@$CONTROL_IP:9999 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend web
    bind $CONTROL_IP:$HTTP_PORT
    default_backend app
$backend
CFG
  if alive "$pid" && cmp -s "$cfg" "$cfg.new"; then rm "$cfg.new"; return; fi
  mv "$cfg.new" "$cfg"
  haproxy -c -q -f "$cfg" || die "haproxy config invalid: $cfg"
  if alive "$pid"; then kill "$(cat "$pid")"; sleep 0.5; fi
  haproxy -D -f "$cfg" -p "$pid" || die "haproxy did not start"
}

images_up() {
  local v
  for v in v1 v2; do
    if ! docker image inspect "$IMAGE:$v" >/dev/null 2>&1; then
      local d=$LAB_DIR/images/$v
      mkdir -p "$d"
      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$v" -o "$d/todo" ./examples/todo
      cp examples/todo/Dockerfile "$d/"
      DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE:$v" --label "labfleet.lab=$LAB_DIR" "$d" >/dev/null 2>&1 ||
        die "docker build of $IMAGE:$v failed"
    fi
  done
}

deploy_args() { # the lab's deploy of the todo app, shared by up and the docs
  echo --app todo --network host --env 'LISTEN=${LABFLEET_PUBLISH_IP}:8000' --env 'DB_HOST=${LABFLEET_PUBLISH_IP}' \
    --env DB_USER=todo --secret-env "DB_PASSWORD=@$LAB_DIR/secrets/db-password" --health-path /healthz --health-port 8000 \
    --pull never --haproxy "$LAB_DIR/run/haproxy.sock" --haproxy-backend app --state-dir "$LAB_DIR/controller"
}

up() {
  [[ $(id -u) -eq 0 ]] || die "run as root (the lab binds port $HTTP_PORT and runs MariaDB and containers)"
  say "Installing what is missing and building"
  bash scripts/install-deps.sh
  make --no-print-directory build >/dev/null
  mkdir -p "$LAB_DIR"/{secrets,run,log,controller} && chmod 700 "$LAB_DIR" "$LAB_DIR/secrets"
  secret "$LAB_DIR/secrets/db-password"

  say "Certificates (mTLS: labcontroller deploys, Nagios monitors)"
  [[ -f $LAB_DIR/certs/ca.crt ]] || "$BIN/labcontroller" certs init --dir "$LAB_DIR/certs" \
    --hosts "${NODES[0]}=${NODE_IPS[0]},${NODES[1]}=${NODE_IPS[1]}" >/dev/null
  # A lab made before roles existed has no monitoring certificate: renew
  # issues it (and writes the deploy role into labcontroller's) from its CA.
  [[ -f $LAB_DIR/certs/nagios.crt ]] || "$BIN/labcontroller" certs renew --dir "$LAB_DIR/certs" >/dev/null

  cat > "$LAB_DIR/inventory.ini" <<INI
# The lab's inventory: the original groups, plus where labfleet finds things.
[controls]
control ansible_host=$CONTROL_IP

[nodes]
${NODES[0]} ansible_host=${NODE_IPS[0]}
# node2 is HAProxy's backup: it serves only while node1 cannot (the seed's design).
${NODES[1]} ansible_host=${NODE_IPS[1]} haproxy_backup=true

[nodes:vars]
app_port=8000
labagent_ca=$LAB_DIR/certs/ca.crt
labagent_cert=$LAB_DIR/certs/labcontroller.crt
labagent_key=$LAB_DIR/certs/labcontroller.key
labagent_monitoring_cert=$LAB_DIR/certs/nagios.crt
labagent_monitoring_key=$LAB_DIR/certs/nagios.key

[cluster:children]
controls
nodes
INI

  say "MariaDB and labagent on ${NODES[0]} and ${NODES[1]}"
  local i
  for i in 1 2; do mariadb_up "$i" "${NODE_IPS[$((i-1))]}"; agent_up "$i" "${NODE_IPS[$((i-1))]}"; done
  wait_for 30 "the agents" ctl info

  say "HAProxy on control ($CONTROL_IP:$HTTP_PORT)"
  haproxy_up

  say "Master-master replication"
  ctl replication setup --state-dir "$LAB_DIR/controller" | tail -n 1
  MYSQL_PWD="$(cat "$LAB_DIR/secrets/mariadb-root-node1")" mariadb --no-defaults -h "${NODE_IPS[0]}" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS todo;
CREATE USER IF NOT EXISTS 'todo'@'%' IDENTIFIED BY '$(cat "$LAB_DIR/secrets/db-password")';
GRANT ALL PRIVILEGES ON todo.* TO 'todo'@'%';
SQL

  say "The todo app (images $IMAGE:v1 and :v2, built locally)"
  images_up
  if ctl status --app todo --check >/dev/null 2>&1; then
    echo "todo is already running and healthy on both nodes"
  else
    # shellcheck disable=SC2046
    ctl deploy $(deploy_args) --image "$IMAGE:v1" | tail -n 4
  fi

  nagios_up
  nagios_web_up
  cat <<DONE

The lab is up.
  app through HAProxy:   curl http://$CONTROL_IP:$HTTP_PORT/   (add: curl -d title=milk http://$CONTROL_IP:$HTTP_PORT/items)
  the app on each node:  curl http://${NODE_IPS[0]}:8000/version   curl http://${NODE_IPS[1]}:8000/version
  status:                bin/labcontroller -i $LAB_DIR/inventory.ini status --haproxy $LAB_DIR/run/haproxy.sock --haproxy-backend app
  replication:           bin/labcontroller -i $LAB_DIR/inventory.ini replication status
  roll out v2:           bin/labcontroller -i $LAB_DIR/inventory.ini deploy $(printf '%q ' $(deploy_args))--image $IMAGE:v2
$(nagios_where)
  stop and remove it:    make lab-down
DONE
}

nagios_up() { :; }
nagios_where() { :; }
nagios_web_up() { :; }
nagios_down() { :; }
[[ -f scripts/lab-nagios.sh ]] && source scripts/lab-nagios.sh

down() {
  say "Stopping the lab in $LAB_DIR"
  local n f
  for n in "${NODES[@]}"; do
    docker ps -aq --filter "label=labfleet.node=$n" | xargs -r docker rm -f >/dev/null
  done
  for f in "$LAB_DIR"/run/*.pid; do
    [[ -f $f ]] || continue
    kill "$(cat "$f")" 2>/dev/null || true
  done
  for f in "$LAB_DIR"/run/*.pid; do
    [[ -f $f ]] || continue
    for _ in $(seq 1 100); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$(cat "$f")" 2>/dev/null || true
  done
  docker images -q --filter "label=labfleet.lab=$LAB_DIR" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  nagios_down
  rm -rf "$LAB_DIR"
  echo "lab removed"
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  *) die "usage: scripts/lab.sh up|down" ;;
esac
