#!/bin/sh
# PID 1 of the Gridiron image. runsvdir supervises every service under $SVDIR (copied from
# container/runit/); this wrapper exists for the stop path only. `docker stop` sends SIGTERM to
# PID 1, and runsvdir alone would exit at once (on TERM) or signal its services without waiting
# (on HUP), so the container would end with restate-server and workerd still shutting down and the
# kernel would SIGKILL them. Here TERM/INT bring every service down first (`sv force-stop`: TERM,
# wait up to GRIDIRON_STOP_WAIT seconds, then KILL), and only then is runsvdir told to exit.
set -u
SVDIR=${SVDIR:-/service}
export SVDIR

runsvdir -P "$SVDIR" &
runsvdir_pid=$!

stop() {
  trap '' TERM INT HUP
  echo "entrypoint: stopping services in $SVDIR"
  sv -w "${GRIDIRON_STOP_WAIT:-25}" force-stop "$SVDIR"/* || true
  # HUP: runsvdir sends TERM to every runsv (each exits, its service being down) and exits itself.
  kill -HUP "$runsvdir_pid" 2>/dev/null || true
}
trap stop TERM INT HUP

# `wait` returns early when a trapped signal arrives; wait again for runsvdir itself to finish.
wait "$runsvdir_pid"
wait "$runsvdir_pid" 2>/dev/null
# runsv processes are runsvdir's children, not ours: wait (up to 5 s) until none of them answers.
i=0
while [ "$i" -lt 50 ]; do
  alive=0
  for s in "$SVDIR"/*; do sv status "$s" >/dev/null 2>&1 && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
  i=$((i + 1))
done
echo "entrypoint: stopped"
