# Shared by scripts/demo.sh and scripts/demo-ha.sh (sourced).

pids=()
# Stops every process the demo started.
cleanup_pids() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

wait_line() {  # file → the port from a "listening on …PORT" line
  for _ in $(seq 100); do
    if grep -q "listening on" "$1" 2>/dev/null; then grep -o '[0-9]*$' "$1" | head -1; return; fi
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; exit 1
}
