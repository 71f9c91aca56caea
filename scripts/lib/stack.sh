# shellcheck shell=bash
# Shared by scripts/up and scripts/down: where the local stack keeps its
# state, and how a process it started is recognised again.
#
# Every process `up` starts has, in $OUTPOST_STATE_DIR/run/:
#   NAME.pid   its pid
#   NAME.args  its exact argv, one word per line (compared with /proc/PID/cmdline)
#   NAME.spec  argv plus a digest of the environment it was given (never the
#              values); a different spec on the next `up` means "restart it"
# A pid counts as ours only when /proc/PID/cmdline equals NAME.args, so a
# recycled pid is never signalled.

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state="${OUTPOST_STATE_DIR:-$repo/.outpost}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"
run="$state/run"
# shellcheck disable=SC2034 # used by up
logs="$state/log"

say() { printf '%s\n' "$*" >&2; }
die() { say "up: $*"; exit 1; }

# The argv of a live pid, one word per line (empty when gone).
proc_args() {
  [ -r "/proc/$1/cmdline" ] || return 0
  tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null || true
}

# Prints the pid of NAME when it is running and is the process we started.
our_pid() {
  local name="$1" pid
  [ -f "$run/$name.pid" ] && [ -f "$run/$name.args" ] || return 1
  pid="$(cat "$run/$name.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(proc_args "$pid")" = "$(cat "$run/$name.args")" ] || return 1
  echo "$pid"
}

# Stops NAME if it is ours (TERM, then KILL after 15 s); forgets it either way.
stop_component() {
  local name="$1" pid
  if pid="$(our_pid "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
      [ -n "$(proc_args "$pid")" ] || break
      sleep 0.1
    done
    if [ -n "$(proc_args "$pid")" ]; then
      say "$name (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  elif [ -f "$run/$name.pid" ]; then
    say "$name: pid $(cat "$run/$name.pid") is no longer the process up started; not touching it"
  fi
  rm -f "$run/$name.pid" "$run/$name.args" "$run/$name.spec"
}

# Components in start order; down stops them in reverse.
# shellcheck disable=SC2034 # used by down
components=(exporter prometheus alertmanager bridge)
