#!/usr/bin/env bash
# Start, stop or describe a Redis topology of real redis-server processes on
# 127.0.0.1, for the Redis-backed tests and for trying the bot by hand:
#
#   cluster   a Redis Cluster of 3 primaries (no replicas)
#   sentinel  a primary, one replica and a Sentinel monitoring them as "appreg"
#
#   scripts/redis-topology.sh start cluster     # start it (again: no-op), print its env
#   scripts/redis-topology.sh env cluster       # print its env: eval "$(... env cluster)"
#   scripts/redis-topology.sh status cluster    # exit 0 when it is up and healthy
#   scripts/redis-topology.sh stop cluster      # stop it and remove its data
#   scripts/redis-topology.sh stop              # stop both
#
# The env lines are the tests' REDIS_TEST_ADDRS (and REDIS_TEST_MASTER_NAME)
# and the bot's own REDIS_ADDRS (and REDIS_MASTER_NAME).
#
# Data, logs, pid files and the chosen ports live in
# $REDIS_TOPOLOGY_DIR/<kind> (default ${TMPDIR:-/tmp}/appreg-redis-topology).
# Ports are the first free ones from $REDIS_TOPOLOGY_PORT (default 30000 for
# the cluster, 30100 for sentinel), never 6390 (CI's single server) and at
# most 55535 (a cluster node's bus listens 10000 above its port). Only the
# processes whose pid files this script wrote are ever stopped.
set -euo pipefail

root=${REDIS_TOPOLOGY_DIR:-${TMPDIR:-/tmp}/appreg-redis-topology}
master_name=appreg

die() { echo "redis-topology: $*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

# in_use PORT: something accepts connections on 127.0.0.1:PORT.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_ports N FROM BUS: sets ports to N free ports from FROM on; with
# BUS=1 port+10000 must be free too.
free_ports() {
  local n=$1 p=$2 bus=$3
  ports=()
  while [ "${#ports[@]}" -lt "$n" ]; do
    [ "$p" -le 55535 ] || die "no free ports up to 55535"
    if [ "$p" != 6390 ] && ! in_use "$p" && { [ "$bus" = 0 ] || ! in_use $((p + 10000)); }; then
      ports+=("$p")
    fi
    p=$((p + 1))
  done
}

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.1 s.
wait_for() {
  local limit=$(($1 * 10)) what=$2
  shift 2
  for _ in $(seq "$limit"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "timed out waiting for $what"
}

# start_server DIR PORT ARGS...: a daemonized redis-server with its data,
# log and pid file in DIR.
start_server() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" ||
    die "redis-server on port $port did not start: $(tail -n 5 "$dir/redis.log" 2>/dev/null)"
  wait_for 10 "redis-server on port $port" cli "$port" ping
}

ports_of() { cat "$root/$1/ports" 2>/dev/null; }

cluster_ok() {
  local p
  for p in $(ports_of cluster); do
    cli "$p" cluster info | grep -q '^cluster_state:ok' || return 1
  done
}

sentinel_ok() {
  local ports m r s
  read -r -a ports <<<"$(ports_of sentinel)"
  [ "${#ports[@]}" = 3 ] || return 1
  m=${ports[0]} r=${ports[1]} s=${ports[2]}
  cli "$s" sentinel get-master-addr-by-name "$master_name" | tr '\n' ' ' | grep -q "^127.0.0.1 $m " || return 1
  cli "$r" info replication | grep -q '^master_link_status:up' || return 1
  cli "$s" sentinel replicas "$master_name" | grep -q "127.0.0.1:$r"
}

healthy() {
  case $1 in
    cluster) cluster_ok ;;
    sentinel) sentinel_ok ;;
  esac
}

start_cluster() {
  local dir=$root/cluster ports p addrs=()
  free_ports 3 "${REDIS_TOPOLOGY_PORT:-30000}" 1
  mkdir -p "$dir"
  echo "${ports[*]}" >"$dir/ports"
  for p in "${ports[@]}"; do
    start_server "$dir/$p" "$p" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 5000
    addrs+=("127.0.0.1:$p")
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
    die "cluster create failed: $(tail -n 5 "$dir/create.log")"
  wait_for 30 "cluster_state:ok on every node" cluster_ok
}

start_sentinel() {
  local dir=$root/sentinel ports m r s
  free_ports 3 "${REDIS_TOPOLOGY_PORT:-30100}" 0
  m=${ports[0]} r=${ports[1]} s=${ports[2]}
  mkdir -p "$dir/$s"
  echo "${ports[*]}" >"$dir/ports"
  start_server "$dir/$m" "$m"
  start_server "$dir/$r" "$r" --replicaof 127.0.0.1 "$m"
  # Sentinel rewrites its configuration file: it must be its own.
  cat >"$dir/$s/sentinel.conf" <<EOF
port $s
bind 127.0.0.1
dir $dir/$s
sentinel monitor $master_name 127.0.0.1 $m 1
sentinel down-after-milliseconds $master_name 5000
sentinel failover-timeout $master_name 10000
EOF
  redis-server "$dir/$s/sentinel.conf" --sentinel --daemonize yes --pidfile "$dir/$s/redis.pid" \
    --logfile "$dir/$s/redis.log" || die "sentinel on port $s did not start: $(tail -n 5 "$dir/$s/redis.log" 2>/dev/null)"
  wait_for 30 "sentinel to know the master and its replica" sentinel_ok
}

print_env() {
  local ports p addrs=()
  read -r -a ports <<<"$(ports_of "$1")"
  for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
  case $1 in
    cluster)
      local list
      list=$(IFS=,; echo "${addrs[*]}")
      echo "export REDIS_TEST_ADDRS=$list"
      echo "export REDIS_ADDRS=$list"
      ;;
    sentinel)
      # The sentinel is the last port; the clients ask it for the primary.
      echo "export REDIS_TEST_ADDRS=${addrs[2]}"
      echo "export REDIS_TEST_MASTER_NAME=$master_name"
      echo "export REDIS_ADDRS=${addrs[2]}"
      echo "export REDIS_MASTER_NAME=$master_name"
      ;;
  esac
}

# stop KIND: stop every process whose pid file is under $root/KIND, then
# remove the directory.
stop() {
  local dir=$root/$1 f pid
  [ -d "$dir" ] || return 0
  for f in "$dir"/*/redis.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # Only a redis process: a pid file may outlive its process.
    if [ -n "$pid" ] && grep -q redis "/proc/$pid/comm" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}

command=${1:-}
kind=${2:-}
case $kind in
  cluster | sentinel) ;;
  "") [ "$command" = stop ] || usage ;;
  *) usage ;;
esac
command -v redis-server >/dev/null || [ "$command" = stop ] || die "redis-server is not installed (apt-get install redis-server)"

case $command in
  start)
    if [ -f "$root/$kind/ports" ] && healthy "$kind"; then
      echo "redis-topology: $kind already running" >&2
    else
      stop "$kind"
      # A start that fails half-way leaves nothing running.
      trap 'stop "$kind"' EXIT
      "start_$kind"
      trap - EXIT
      echo "redis-topology: $kind up on ports $(ports_of "$kind")" >&2
    fi
    print_env "$kind"
    ;;
  env)
    healthy "$kind" || die "$kind is not running (start it first)"
    print_env "$kind"
    ;;
  status)
    healthy "$kind"
    ;;
  stop)
    if [ -n "$kind" ]; then stop "$kind"; else stop cluster; stop sentinel; fi
    ;;
  *) usage ;;
esac
