#!/usr/bin/env bash
# ganeti-testbed.sh: real single-node Ganeti 3.0 clusters (Debian's `ganeti`, fake hypervisor)
# on this machine, for the RAPI integration suite. Each cluster lives in its own network
# namespace (node 10.77.<i>.2, cluster IP .3, host side .1) and its own mount namespace, in
# which per-cluster directories are bind-mounted over /etc/ganeti, /var/lib/ganeti,
# /run/ganeti, /var/log/ganeti, /run/lock, /srv/ganeti/os and the file-storage dirs, so
# several clusters coexist and nothing of theirs shows on the host. One `sleep` process per
# cluster holds its namespaces; the Ganeti daemons run inside them.
#
#   scripts/ganeti-testbed.sh up [N]    bring up clusters 1..N (default 1); idempotent
#   scripts/ganeti-testbed.sh down [I]  stop everything (or only cluster I), remove namespaces,
#                                       veths and state
#   scripts/ganeti-testbed.sh status    one line per cluster; exit 0 only if all answer
#   scripts/ganeti-testbed.sh exec I CMD...   run CMD (e.g. gnt-instance list) in cluster I
#
# `up` prints `cluster<i> https://<ip>:5080 <user> <password>` per cluster and writes the same
# to /run/snf-ganeti-testbed.json. Must run as root. Environment overrides:
# SNF_GANETI_RAPI_USER, SNF_GANETI_RAPI_PASSWORD, SNF_GANETI_NET (first two octets, 10.77),
# SNF_GANETI_BRIDGES (the bridges made in each cluster, "br0 prv0").
set -euo pipefail

NET=${SNF_GANETI_NET:-10.77}
RAPI_USER=${SNF_GANETI_RAPI_USER:-snf}
RAPI_PASS=${SNF_GANETI_RAPI_PASSWORD:-snf-testbed}
# Ganeti refuses a bridged NIC whose bridge the node lacks: br0 is the cluster's default link
# (and a public network's), prv0 the one Synnefo's MAC-filtered private networks share.
BRIDGES=${SNF_GANETI_BRIDGES:-br0 prv0}
STATE=/var/lib/snf-ganeti-testbed        # per-cluster Ganeti state (cluster<i>/...)
RUNDIR=/run/snf-ganeti-testbed           # holder pid files and logs
JSON=/run/snf-ganeti-testbed.json
LOCK=/run/lock/snf-ganeti-testbed.lock
NS_PREFIX=snf-gnt                        # namespace snf-gnt<i>, host veth snfgnt<i>-h
# Host paths the per-cluster dirs are mounted over (mount points created when missing).
MOUNTS="etc:/etc/ganeti lib:/var/lib/ganeti run:/run/ganeti log:/var/log/ganeti lock:/run/lock
os:/srv/ganeti/os file:/srv/ganeti/file-storage sharedfile:/srv/ganeti/shared-file-storage"

log() { echo "ganeti-testbed: $*" >&2; }
die() { log "$*"; exit 1; }

ns_name() { echo "$NS_PREFIX$1"; }
host_if() { echo "${NS_PREFIX//-/}$1-h"; }
node_ip() { echo "$NET.$1.2"; }
node_name() { echo "node1.ganeti$1.snf.test"; }
cluster_name() { echo "ganeti$1.snf.test"; }
url() { echo "https://$(node_ip "$1"):5080"; }

holder_pid() { # pid of the process holding cluster $1's namespaces, if alive
  local f="$RUNDIR/cluster$1.pid" pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  # alive, and in the cluster's network namespace (not a recycled pid)
  [ "$(stat -Lc %i "/proc/$pid/ns/net" 2>/dev/null)" = "$(stat -Lc %i "/run/netns/$(ns_name "$1")" 2>/dev/null)" ] || return 1
  echo "$pid"
}

in_cluster() { # run a command inside cluster $1 (its network, mount and UTS namespaces)
  local i=$1 pid; shift
  pid=$(holder_pid "$i") || die "cluster$i is not up"
  nsenter -t "$pid" -n -m -u -- env LC_ALL=C "$@"
}

rapi_ok() { # RAPI of cluster $1 answers with our credentials (a busy one can take seconds)
  curl -sfk -m "${2:-15}" -u "$RAPI_USER:$RAPI_PASS" "$(url "$1")/2/info" >/dev/null 2>&1
}

known_clusters() { # indexes of clusters that have any trace on the machine
  { ls "$STATE" 2>/dev/null | sed -n 's/^cluster\([0-9]\+\)$/\1/p'
    ls "$RUNDIR" 2>/dev/null | sed -n 's/^cluster\([0-9]\+\)\.pid$/\1/p'
    ip netns list 2>/dev/null | sed -n "s/^$NS_PREFIX\([0-9]\+\).*/\1/p"
  } | sort -nu
}

ensure_packages() {
  command -v gnt-cluster >/dev/null && command -v nsenter >/dev/null && command -v curl >/dev/null && return
  log "installing ganeti"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq ganeti curl util-linux iproute2 >/dev/null
}

ensure_os() { # trivial OS definition in dir $1; Synnefo asks for snf-image+default
  local OSDIR=$1/snf-image s
  mkdir -p "$OSDIR"
  for s in create import export rename verify; do
    printf '#!/bin/sh\nexit 0\n' >"$OSDIR/$s"
    chmod 755 "$OSDIR/$s"
  done
  echo 20 >"$OSDIR/ganeti_api_version"
  echo default >"$OSDIR/variants.list"
  cat >"$OSDIR/parameters.list" <<'EOF'
img_id The id of the image to be installed
img_format The format of the image to be installed
img_passwd The root password to inject into the image
img_passwd_hash The hash of the root password to inject into the image
img_properties Image properties (JSON)
img_personality Files to inject into the image (JSON)
config_url URL of a JSON configuration for the image
EOF
}

ensure_bridges() { # the bridges instance NICs may use, in cluster $1's network namespace
  local ns b
  ns=$(ns_name "$1")
  for b in $BRIDGES; do
    ip netns exec "$ns" ip link show "$b" >/dev/null 2>&1 || ip netns exec "$ns" ip link add "$b" type bridge
    ip netns exec "$ns" ip link set "$b" up
  done
}

write_users() { # RAPI users file (ganeti-rapi notices changes by itself)
  local f="$STATE/cluster$1/lib/rapi/users"
  mkdir -p "$(dirname "$f")"
  echo "$RAPI_USER $RAPI_PASS write" >"$f.tmp"
  chown gnt-rapi:gnt-masterd "$f.tmp" 2>/dev/null || true
  chmod 640 "$f.tmp"
  mv -f "$f.tmp" "$f"
}

cluster_pids() { # every process of cluster $1 (holder, daemons, their children)
  local ns pid mnt p
  ns=$(ns_name "$1")
  ip netns pids "$ns" 2>/dev/null || true
  # Should the network namespace have been deleted by hand: those in the holder's mount namespace.
  pid=$(cat "$RUNDIR/cluster$1.pid" 2>/dev/null) || return 0
  [ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" = "sleep infinity " ] || return 0
  mnt=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) || return 0
  [ "$mnt" != "$(readlink /proc/self/ns/mnt)" ] || return 0
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mnt" ] && echo "${p#/proc/}"
  done
  return 0
}

signal_cluster() { # send signal $2 to cluster $1's processes except pid $3; wait up to 5 s
  local pids
  pids=$(cluster_pids "$1" | grep -vx "$3" | sort -u || true)
  [ -n "$pids" ] || return 0
  kill -s "$2" $pids 2>/dev/null || true
  for _ in $(seq 1 20); do
    [ -z "$(cluster_pids "$1" | grep -vx "$3")" ] && return 0
    sleep 0.25
  done
}

destroy() { # remove every trace of cluster $1
  local i=$1 ns holder
  ns=$(ns_name "$i")
  holder=$(cat "$RUNDIR/cluster$i.pid" 2>/dev/null || echo none)
  # SIGTERM is what daemon-util stop sends too, but that takes ~12 s; the state goes anyway.
  # The holder goes last: while it lives, its mount namespace names the cluster's processes.
  signal_cluster "$i" TERM "$holder"
  signal_cluster "$i" KILL "$holder"
  signal_cluster "$i" KILL none
  ip link del "$(host_if "$i")" 2>/dev/null || true   # takes the namespace's end with it
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "/etc/netns/$ns" "$STATE/cluster$i" "$RUNDIR/cluster$i".{pid,log,init.log}
}

create() { # build cluster $1 from nothing
  local i=$1 ns hif dir node cluster pid spec
  ns=$(ns_name "$i"); hif=$(host_if "$i"); dir="$STATE/cluster$i"
  node=$(node_name "$i"); cluster=$(cluster_name "$i")

  # Network: veth pair (host .1, node .2 as eth0 in the namespace) and bridges for instance NICs.
  ip netns add "$ns"
  ip link add "$hif" type veth peer name "${hif%-h}-n"
  ip link set "${hif%-h}-n" netns "$ns"
  ip addr add "$NET.$i.1/24" dev "$hif"
  ip link set "$hif" up
  ip netns exec "$ns" ip link set "${hif%-h}-n" name eth0
  ip netns exec "$ns" ip addr add "$(node_ip "$i")/24" dev eth0
  ip netns exec "$ns" ip link set eth0 up
  ip netns exec "$ns" ip link set lo up
  ensure_bridges "$i"
  mkdir -p "/etc/netns/$ns"
  printf '127.0.0.1 localhost\n%s %s node1\n%s %s\n' \
    "$(node_ip "$i")" "$node" "$NET.$i.3" "$cluster" >"/etc/netns/$ns/hosts"

  # Per-cluster state, mounted over Ganeti's paths inside the cluster's mount namespace.
  local m
  for m in $MOUNTS; do mkdir -p "$dir/${m%%:*}" "${m#*:}"; done
  cp -a /etc/ganeti/. "$dir/etc/"
  ensure_os "$dir/os"
  printf '/srv/ganeti/file-storage\n/srv/ganeti/shared-file-storage\n' >"$dir/etc/file-storage-paths"
  # RAPI must listen on the namespace's addresses, not only 127.0.0.1 as Debian's default says.
  sed 's/^RAPI_ARGS=.*/RAPI_ARGS="-b 0.0.0.0 --require-authentication"/' /etc/default/ganeti >"$dir/default-ganeti"
  grep -q '^RAPI_ARGS=' "$dir/default-ganeti" || echo 'RAPI_ARGS="-b 0.0.0.0 --require-authentication"' >>"$dir/default-ganeti"

  # The holder: enters the netns (which also mounts /etc/netns/<ns>/hosts over /etc/hosts),
  # makes a private mount and UTS namespace, mounts the per-cluster dirs, then sleeps.
  mkdir -p "$RUNDIR"
  rm -f "$RUNDIR/cluster$i.pid"
  local mounts=""
  for m in $MOUNTS; do mounts+="mount --bind '$dir/${m%%:*}' '${m#*:}'; "; done
  setsid ip netns exec "$ns" unshare --mount --uts --propagation private -- bash -c "
    set -e; $mounts mount --bind '$dir/default-ganeti' /etc/default/ganeti
    hostname '$node'; echo \$\$ >'$RUNDIR/cluster$i.pid.tmp'; mv '$RUNDIR/cluster$i.pid.tmp' '$RUNDIR/cluster$i.pid'
    exec sleep infinity" </dev/null >"$RUNDIR/cluster$i.log" 2>&1 &
  for _ in $(seq 1 50); do pid=$(holder_pid "$i") && break; sleep 0.1; done
  pid=$(holder_pid "$i") || die "cluster$i: namespace holder did not start: $(cat "$RUNDIR/cluster$i.log")"

  # Instance policy loose enough for tiny test instances (sizes in MiB; diskless/NIC-less ok).
  spec="min:cpu-count=1,disk-count=0,disk-size=1,memory-size=1,nic-count=0,spindle-use=0"
  spec+="/max:cpu-count=64,disk-count=16,disk-size=1048576,memory-size=262144,nic-count=8,spindle-use=12"
  in_cluster "$i" /usr/lib/ganeti/ensure-dirs
  write_users "$i"
  in_cluster "$i" gnt-cluster init --no-ssh-init --no-etc-hosts --master-netdev=eth0 \
    --enabled-hypervisors=fake --enabled-disk-templates=file,sharedfile,diskless \
    --file-storage-dir=/srv/ganeti/file-storage --shared-file-storage-dir=/srv/ganeti/shared-file-storage \
    --nic-parameters=mode=bridged,link=br0 --ipolicy-bounds-specs="$spec" \
    --ipolicy-std-specs=cpu-count=1,disk-count=1,disk-size=1024,memory-size=128,nic-count=1,spindle-use=1 \
    --ipolicy-vcpu-ratio=64 --ipolicy-spindle-ratio=64 "$cluster" >"$RUNDIR/cluster$i.init.log" 2>&1 ||
    die "cluster$i: gnt-cluster init failed: $(cat "$RUNDIR/cluster$i.init.log")"
}

cmd_up() {
  local n=${1:-1} i start
  start=$(date +%s%N)
  [[ $n =~ ^[1-9][0-9]*$ ]] && [ "$n" -le 200 ] || die "up: N must be 1..200"
  ensure_packages
  for i in $(seq 1 "$n"); do
    if holder_pid "$i" >/dev/null; then
      write_users "$i"
      ensure_bridges "$i"   # clusters made before a bridge was added to BRIDGES get it too
      # Rebuild only a cluster whose RAPI stays silent for a minute, not a busy one.
      for _ in $(seq 1 4); do rapi_ok "$i" && continue 2; sleep 1; done
      log "cluster$i is there but its RAPI does not answer: rebuilding it"
    fi
    destroy "$i"
    log "creating cluster$i ($(cluster_name "$i"), node $(node_name "$i"))"
    create "$i"
  done
  for i in $(seq 1 "$n"); do
    for _ in $(seq 1 120); do rapi_ok "$i" 5 && break; sleep 0.5; done
    rapi_ok "$i" || die "cluster$i: RAPI does not answer at $(url "$i") (logs: $STATE/cluster$i/log)"
  done
  local json="[" sep=""
  for i in $(seq 1 "$n"); do
    echo "cluster$i $(url "$i") $RAPI_USER $RAPI_PASS"
    json+="$sep{\"name\":\"cluster$i\",\"url\":\"$(url "$i")\",\"user\":\"$RAPI_USER\",\"password\":\"$RAPI_PASS\",\"node\":\"$(node_name "$i")\",\"cluster\":\"$(cluster_name "$i")\"}"
    sep=","
  done
  echo "$json]" >"$JSON.tmp" && mv -f "$JSON.tmp" "$JSON"   # lists clusters 1..N
  log "up: $n cluster(s) ready in $(( ($(date +%s%N) - start) / 1000000 )) ms"
}

cmd_down() {
  local i m
  if [ -n "${1:-}" ]; then # one cluster only; drop it from the JSON too
    destroy "$1"
    [ -f "$JSON" ] && python3 -c 'import json,sys
l=[c for c in json.load(open(sys.argv[1])) if c["name"]!="cluster"+sys.argv[2]]
open(sys.argv[1]+".tmp","w").write(json.dumps(l,separators=(",",":"))+"\n")' "$JSON" "$1" &&
      mv -f "$JSON.tmp" "$JSON"
    return 0
  fi
  for i in $(known_clusters); do destroy "$i"; done
  rm -rf "$RUNDIR" "$JSON"
  # Empty mount points made by `create`. Only now: removing a directory that is a mount point
  # in another (live) mount namespace would detach that namespace's mount.
  for m in $MOUNTS; do rmdir "${m#*:}" 2>/dev/null || true; done
  rmdir "$STATE" /srv/ganeti 2>/dev/null || true
  return 0
}

cmd_status() {
  local i all=0 any=0
  for i in $(known_clusters); do
    any=1
    if ! holder_pid "$i" >/dev/null; then
      echo "cluster$i down (leftovers only; run up or down)"; all=1
    elif rapi_ok "$i"; then
      echo "cluster$i up $(url "$i") $RAPI_USER $RAPI_PASS $(cluster_name "$i") $(node_name "$i")"
    else
      echo "cluster$i broken (namespaces held, RAPI not answering at $(url "$i"))"; all=1
    fi
  done
  [ $any = 1 ] || { echo "no clusters"; return 1; }
  return $all
}

[ "$(id -u)" = 0 ] || die "must run as root"
# up and down run one at a time. `flock -o` keeps the lock in flock's own process, so the
# daemons started below never inherit the lock's descriptor (they would hold it forever).
case "${1:-}" in up|down)
  if [ -z "${SNF_GANETI_TESTBED_LOCKED:-}" ]; then
    mkdir -p "$(dirname "$LOCK")"
    SNF_GANETI_TESTBED_LOCKED=1 exec flock -o "$LOCK" bash "$0" "$@"
  fi ;;
esac
mkdir -p "$RUNDIR"
case "${1:-}" in
  up) cmd_up "${2:-1}" ;;
  down) cmd_down "${2:-}" ;;
  status) cmd_status ;;
  exec) [ $# -ge 3 ] || die "usage: $0 exec I CMD..."; i=$2; shift 2; in_cluster "$i" "$@" ;;
  *) echo "usage: $0 up [N] | down [I] | status | exec I CMD..." >&2; exit 2 ;;
esac
