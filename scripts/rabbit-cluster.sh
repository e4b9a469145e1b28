#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, for fj's cluster tests and for
# trying fj on a cluster (docs/scaling.md, "Past one RabbitMQ node").
#
# Each node runs in a network namespace of its own (fj-rmq-1..3, addresses
# 10.77.0.11-13), joined by veth pairs to a bridge in the root namespace
# (fjrmq0, 10.77.0.1), so clients on this machine reach every node and a
# partition is a real one: `partition N` takes node N's link down. Nodes are
# rabbit@10.77.0.1N (long names), share one Erlang cookie, keep their data and
# logs under $FJ_CLUSTER_DIR (default /tmp/fj-rabbit-cluster) and accept guest
# from other addresses (loopback_users = none, in this cluster's config only).
# The machine's own RabbitMQ (127.0.0.1:5672, /var/lib/rabbitmq, its epmd in
# the root namespace) is never touched: every Erlang process of the cluster,
# epmd included, runs inside a node's namespace.
#
# Usage: scripts/rabbit-cluster.sh start | stop | status | urls
#                                  | kill N | restart N | partition N | heal N
#                                  | leader QUEUE
# Needs root (ip netns) and rabbitmq-server 3.10+. Exit codes: 0 done,
# 1 failed (the message says what), 2 usage.
set -euo pipefail

DIR=${FJ_CLUSTER_DIR:-/tmp/fj-rabbit-cluster}
NODES=(1 2 3)
BRIDGE=fjrmq0
NET=10.77.0
RMQ_BIN=${FJ_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
START_TIMEOUT=${FJ_CLUSTER_START_TIMEOUT:-120}

die() { echo "rabbit-cluster: $*" >&2; exit 1; }
usage() { sed -n '17,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ns() { echo "fj-rmq-$1"; }
addr() { echo "$NET.1$1"; }
nodename() { echo "rabbit@$(addr "$1")"; }
veth() { echo "fjrmq-v$1"; }
node_dir() { echo "$DIR/node$1"; }
# The node writes its VM's PID there once it boots (RABBITMQ_PID_FILE).
pidfile() { echo "$(node_dir "$1")/rabbit.pid"; }

check_node_arg() {
  [[ ${1:-} =~ ^[123]$ ]] || { echo "rabbit-cluster: expected a node number 1, 2 or 3, got '${1:-}'" >&2; usage; }
}

preflight() {
  [ "$(id -u)" = 0 ] || die "needs root (ip netns, veth, bridge); run it as root"
  command -v ip >/dev/null || die "needs the ip command (iproute2)"
  [ -x "$RMQ_BIN/rabbitmq-server" ] || die "no $RMQ_BIN/rabbitmq-server (set FJ_RABBITMQ_BIN to RabbitMQ's bin directory)"
}

# The environment every RabbitMQ script of node N runs with: its own env file
# (so /etc/rabbitmq/rabbitmq-env.conf, the machine's node's, is not read), its
# own config, data, logs and plugins, and HOME holding the cluster's cookie.
node_env() {
  local d
  d=$(node_dir "$1")
  echo env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$DIR/home" LANG=C.UTF-8 \
    RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_PID_FILE="$d/rabbit.pid" \
    RABBITMQ_USE_LONGNAME=true RABBITMQ_NODENAME="$(nodename "$1")" \
    RABBITMQ_NODE_IP_ADDRESS="$(addr "$1")" RABBITMQ_NODE_PORT=5672
}

in_node() { # N command... : run a command in node N's namespace and environment
  local n=$1
  shift
  # shellcheck disable=SC2046
  ip netns exec "$(ns "$n")" $(node_env "$n") "$@"
}

ctl() { # N args... : rabbitmqctl against node N, from inside its namespace
  local n=$1
  shift
  in_node "$n" "$RMQ_BIN/rabbitmqctl" -n "$(nodename "$n")" "$@"
}

beam_pid() { # N: the node's Erlang VM, if it runs
  local f
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  local p
  p=$(cat "$f")
  kill -0 "$p" 2>/dev/null || return 1
  echo "$p"
}

net_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET.1/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  for n in "${NODES[@]}"; do
    local name v
    name=$(ns "$n")
    v=$(veth "$n")
    ip netns list | grep -qw "$name" || ip netns add "$name"
    if ! ip link show "$v" >/dev/null 2>&1; then
      ip link add "$v" type veth peer name eth0 netns "$name"
      ip link set "$v" master "$BRIDGE"
      ip netns exec "$name" ip addr add "$(addr "$n")/24" dev eth0
    fi
    ip link set "$v" up
    ip netns exec "$name" ip link set lo up
    ip netns exec "$name" ip link set eth0 up
  done
}

write_config() {
  mkdir -p "$DIR/home"
  chmod 700 "$DIR" "$DIR/home"
  if [ ! -f "$DIR/home/.erlang.cookie" ]; then
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/home/.erlang.cookie"
    chmod 400 "$DIR/home/.erlang.cookie"
  fi
  for n in "${NODES[@]}"; do
    local d
    d=$(node_dir "$n")
    mkdir -p "$d/mnesia" "$d/log"
    : >"$d/rabbitmq-env.conf"
    echo '[].' >"$d/enabled_plugins"
    echo '[].' >"$d/advanced.config"
    cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.default = $(addr "$n"):5672
loopback_users = none
# RabbitMQ's recommendation for three nodes: a minority side pauses itself
# rather than run on as a second cluster.
cluster_partition_handling = pause_minority
# Spread queue leaders (work queues, results queues) over the nodes.
queue_leader_locator = balanced
# Notice a lost peer within ~10 s (default 60 s) so a partition of 15-30 s
# is one the cluster sees.
net_ticktime = 10
log.file.level = info
log.console = false
EOF
  done
}

start_node() { # N: start node N's VM in the background, detached from this shell
  local n=$1 d
  d=$(node_dir "$n")
  if beam_pid "$n" >/dev/null; then return 0; fi
  rm -f "$(pidfile "$n")"
  # A session of its own, so the node outlives this script; its PID file is
  # written by the VM itself, and `stop` ends whatever runs in the namespace.
  # shellcheck disable=SC2046
  ip netns exec "$(ns "$n")" $(node_env "$n") setsid "$RMQ_BIN/rabbitmq-server" \
    >"$d/log/console.log" 2>&1 </dev/null &
}

await_node() { # N: wait until node N has booted (or say why not)
  local n=$1 deadline=$((SECONDS + START_TIMEOUT))
  # await_startup fails at once while the VM is not reachable yet: ask again.
  until ctl "$n" await_startup --timeout 10 >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] && beam_or_launcher_alive "$n" && { sleep 1; continue; }
    echo "rabbit-cluster: node $n ($(nodename "$n")) did not start (gave up after $((SECONDS - deadline + START_TIMEOUT)) s, or it exited); last lines of its log:" >&2
    tail -n 20 "$(node_dir "$n")/log/console.log" >&2 || true
    return 1
  done
}

beam_or_launcher_alive() { # N: is anything of node N still running?
  [ -n "$(ip netns pids "$(ns "$1")" 2>/dev/null)" ]
}

clustered() { # N: is node N in a cluster with node 1?
  ctl "$n" cluster_status --formatter json 2>/dev/null | grep -q "\"$(nodename 1)\""
}

cmd_start() {
  preflight
  local t0=$SECONDS
  net_up
  write_config
  for n in "${NODES[@]}"; do start_node "$n"; done
  for n in "${NODES[@]}"; do await_node "$n"; done
  for n in 2 3; do
    if ! clustered "$n"; then
      ctl "$n" stop_app >/dev/null
      ctl "$n" join_cluster "$(nodename 1)" >/dev/null || die "node $n could not join $(nodename 1)"
      ctl "$n" start_app >/dev/null
    fi
  done
  local running
  running=$(ctl 1 cluster_status --formatter json | grep -o '"running_nodes":\[[^]]*\]' || true)
  for n in "${NODES[@]}"; do
    echo "$running" | grep -q "$(nodename "$n")" || die "node $n is not running in the cluster: $running"
  done
  echo "rabbit-cluster: 3 nodes running and clustered in $((SECONDS - t0)) s" >&2
  cmd_urls
}

cmd_stop() {
  preflight
  for n in "${NODES[@]}"; do
    local name
    name=$(ns "$n")
    if ip netns list | grep -qw "$name"; then
      # Everything in the namespace is the cluster's: the node's VM, its epmd,
      # its helper processes. Ask the node to stop, then end what is left.
      beam_pid "$n" >/dev/null && ctl "$n" stop >/dev/null 2>&1 || true
      local pids
      pids=$(ip netns pids "$name" || true)
      [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
      ip netns del "$name"
    fi
    ip link del "$(veth "$n")" 2>/dev/null || true
    rm -f "$(pidfile "$n")"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$DIR"
  echo "rabbit-cluster: stopped; namespaces, bridge and $DIR removed" >&2
}

cmd_status() {
  preflight
  for n in "${NODES[@]}"; do
    local state=down link=absent
    beam_pid "$n" >/dev/null && state="running (pid $(beam_pid "$n"))"
    if ip link show "$(veth "$n")" >/dev/null 2>&1; then
      ip link show "$(veth "$n")" | grep -q 'state UP\|,UP' && link=up || link="down (partitioned)"
    fi
    echo "node $n $(nodename "$n"): $state, link $link"
  done
  for n in "${NODES[@]}"; do
    if beam_pid "$n" >/dev/null; then
      echo "seen from node $n: $(ctl "$n" cluster_status --formatter json 2>/dev/null | grep -o '"running_nodes":\[[^]]*\]' || echo 'no answer')"
    fi
  done
}

cmd_urls() {
  local urls=()
  for n in "${NODES[@]}"; do urls+=("amqp://guest:guest@$(addr "$n"):5672"); done
  (IFS=,; echo "${urls[*]}")
}

cmd_kill() { # kill -9 node N's VM (its epmd stays, as after a crash)
  local p
  p=$(beam_pid "$1") || die "node $1 is not running"
  kill -9 "$p"
  echo "rabbit-cluster: killed node $1 (pid $p)" >&2
}

cmd_restart() {
  if p=$(beam_pid "$1"); then ctl "$1" stop >/dev/null 2>&1 || kill -9 "$p"; fi
  while beam_pid "$1" >/dev/null; do sleep 0.2; done
  start_node "$1"
  await_node "$1"
  echo "rabbit-cluster: node $1 restarted" >&2
}

cmd_leader() { # QUEUE: the number of the node leading a quorum queue, asked of the first node that answers
  local q=$1 out
  for n in "${NODES[@]}"; do
    beam_pid "$n" >/dev/null || continue
    out=$(timeout 15 "$0" _ctl "$n" list_queues name leader --formatter json 2>/dev/null) || continue
    local leader
    leader=$(echo "$out" | grep -o "{\"name\":\"$q\",\"leader\":\"rabbit@$NET\.1[123]\"" | grep -o '1[123]"$' | tr -d '"' || true)
    [ -n "$leader" ] && { echo "${leader#1}"; return 0; }
  done
  die "no running node knows a leader of queue '$q'"
}

case ${1:-} in
  _ctl) shift; n=$1; shift; ctl "$n" "$@" ;;
  leader) [ -n "${2:-}" ] || usage; preflight; cmd_leader "$2" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  urls) cmd_urls ;;
  kill) check_node_arg "${2:-}"; preflight; cmd_kill "$2" ;;
  restart) check_node_arg "${2:-}"; preflight; cmd_restart "$2" ;;
  partition) check_node_arg "${2:-}"; preflight; ip link set "$(veth "$2")" down; echo "rabbit-cluster: node $2 cut off" >&2 ;;
  heal) check_node_arg "${2:-}"; preflight; ip link set "$(veth "$2")" up; echo "rabbit-cluster: node $2 reconnected" >&2 ;;
  *) usage ;;
esac
