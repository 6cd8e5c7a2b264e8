# Shared by scripts/services/*.sh (sourced, not run).

# terminate NAME PID PIDFILE: SIGTERM the server, wait up to 30 s, then SIGKILL; the PID
# file goes either way.
terminate() {
  local name="$1" pid="$2" pidfile="$3"
  kill -TERM "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "$name: stopped"; return; }
    sleep 1
  done
  echo "$name: pid $pid did not stop in 30 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# started PIDFILE: the PID this script just forked is still alive. During start-up its name
# is not yet the server's (it is bash until the redirections are open, then setsid, then the
# server), so only `down` and `status` check the name, where the PID file may be stale.
started() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
