#!/usr/bin/env bash
# make demo-ha: two compliance-watch instances on one PostgreSQL database, watching two Plivo
# accounts in the sandbox, delivering to one webhook receiver. Halfway through the leader is
# killed (SIGKILL); the standby takes over. At the end every event the store recorded is checked
# against what the receiver got: no gap, and no transition under two ids.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/debug
DURATION=${DEMO_SECONDS:-60}
LEASE=${DEMO_LEASE:-4s}
DEMO=$(mktemp -d /tmp/compliance-watch-demo-ha.XXXXXX)
chmod 755 "$DEMO"
ACCOUNT_A=MADEMOALPHA000000000
ACCOUNT_B=MADEMOBRAVO000000000
TOKEN_A=alpha-token-$RANDOM$RANDOM
TOKEN_B=bravo-token-$RANDOM$RANDOM
SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
source scripts/demo-lib.sh
cleanup() {
  cleanup_pids
  scripts/pg-cluster.sh stop "$DEMO/pg" || true
}
trap cleanup EXIT
trap 'echo; echo "stopping…"; exit 0' INT TERM

say() { echo "$(date +%T) demo     $*"; }

echo "demo directory: $DEMO"
PG_PORT=$(scripts/pg-cluster.sh start "$DEMO/pg")
say "PostgreSQL 15 on 127.0.0.1:$PG_PORT (a throwaway cluster in $DEMO/pg)"
"$BIN/plivo-sandbox" --auth-id "$ACCOUNT_A" --auth-token "$TOKEN_A" --account "$ACCOUNT_B:$TOKEN_B" \
  --seed 15 --review-after 4s --accept-ratio 0.7 > "$DEMO/sandbox.out" 2>&1 &
pids+=($!); disown
SANDBOX_PORT=$(wait_line "$DEMO/sandbox.out")
say "sandbox with accounts alpha ($ACCOUNT_A) and bravo ($ACCOUNT_B), 15 applications each"
RECEIVER_LOG="$DEMO/received.jsonl" /usr/bin/python3 scripts/webhook-receiver.py "$SECRET" > "$DEMO/receiver.out" 2>&1 &
pids+=($!); disown
RECEIVER_PORT=$(wait_line "$DEMO/receiver.out")
tail -n +2 -f "$DEMO/receiver.out" &
pids+=($!); disown

printf '%s' "$TOKEN_A" > "$DEMO/alpha-token"
printf '%s' "$TOKEN_B" > "$DEMO/bravo-token"
printf '%s' "$SECRET" > "$DEMO/webhook-secret"
chmod 600 "$DEMO/alpha-token" "$DEMO/bravo-token" "$DEMO/webhook-secret"  # secret files must be private
for host in one two; do
  mkdir -p "$DEMO/$host"
  cat > "$DEMO/$host/compliance-watch.toml" <<TOML
[plivo]
base_url = "http://127.0.0.1:$SANDBOX_PORT"

[[accounts]]
name = "alpha"
auth_id = "$ACCOUNT_A"
auth_token_file = "../alpha-token"

[[accounts]]
name = "bravo"
auth_id = "$ACCOUNT_B"
auth_token_file = "../bravo-token"

[poll]
interval = "1s"
settled_interval = "1m"

[state]
url = "postgresql://cw@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
password_file = "../pg/password"

[ha]
lease = "$LEASE"

[audit]
seal = false

[log]
level = "notice"

[[sinks]]
name = "audit"
type = "file"
path = "audit.jsonl"

[[sinks]]
name = "receiver"
type = "webhook"
url = "http://127.0.0.1:$RECEIVER_PORT/hooks/compliance"
secret_files = ["../webhook-secret"]
TOML
done

"$BIN/compliance-watch" check-config --config "$DEMO/one/compliance-watch.toml" | sed 's/^/  /'
echo

start() {  # host → pid
  # Output to files: a command substitution would wait for a stdout the daemon keeps open.
  "$BIN/compliance-watch" run --config "$DEMO/$1/compliance-watch.toml" >> "$DEMO/$1/daemon.log" 2>&1 &
  echo $!
}
leader() {
  "$BIN/compliance-watch" status --config "$DEMO/one/compliance-watch.toml" 2>/dev/null | grep '^leader:' || true
}
ONE=$(start one); pids+=($ONE)
for _ in $(seq 100); do leader | grep -q "pid $ONE" && break; sleep 0.1; done
TWO=$(start two); pids+=($TWO)
say "instance one (pid $ONE) and instance two (pid $TWO) started; $(leader)"

API="http://127.0.0.1:$SANDBOX_PORT/v1/Account"
submit_one() {  # account token: submit a draft or rejected application, as a person would
  local id
  for status in draft rejected; do
    id=$(curl -s -u "$1:$2" "$API/$1/ComplianceApplication/?status=$status&limit=1" | /usr/bin/python3 -c \
      'import json,sys; o=json.load(sys.stdin)["objects"]; print(o[0]["compliance_application_id"] if o else "")')
    if [ -n "$id" ]; then
      curl -s -o /dev/null -u "$1:$2" -H 'Content-Type: application/json' -d '{}' "$API/$1/ComplianceApplication/$id/Submit/"
      return
    fi
  done
}

end=$((SECONDS + DURATION))
killed=0
while [ $SECONDS -lt $end ]; do
  sleep 2
  submit_one "$ACCOUNT_A" "$TOKEN_A"
  submit_one "$ACCOUNT_B" "$TOKEN_B"
  if [ $killed = 0 ] && [ $SECONDS -ge $((end - DURATION / 2)) ]; then
    killed=1
    victim=$ONE; survivor=two
    leader | grep -q "pid $TWO" && { victim=$TWO; survivor=one; }
    kill -9 "$victim"
    t0=$(date +%s.%N)
    say "killed the leader (pid $victim) with SIGKILL; changes keep coming"
    for _ in $(seq 600); do
      current=$(leader)
      if [ -n "$current" ] && ! echo "$current" | grep -q "pid $victim"; then break; fi
      sleep 0.05
    done
    say "instance $survivor took over after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $current"
  fi
done
say "no more changes; letting the last reviews arrive"
sleep 8
for pid in $ONE $TWO; do kill -TERM "$pid" 2>/dev/null || true; done
wait "$ONE" "$TWO" 2>/dev/null || true
echo
"$BIN/compliance-watch" status --config "$DEMO/one/compliance-watch.toml" | sed 's/^/  /'
echo
PGPASSWORD=$(cat "$DEMO/pg/password") psql -X -q -A -t -h 127.0.0.1 -p "$PG_PORT" -U cw -d postgres \
  -F ' ' -c "SELECT e.id, e.applicationId, convert_from(e.body, 'UTF8')::jsonb #>> '{data,previous,status}', convert_from(e.body, 'UTF8')::jsonb #>> '{data,application,status}'
             FROM event e JOIN delivery d ON d.eventSeq = e.seq AND d.sink = 'receiver' ORDER BY e.seq" > "$DEMO/recorded.txt"
/usr/bin/python3 - "$DEMO" <<'PY'
import collections, json, sys
demo = sys.argv[1]
received = [json.loads(line) for line in open(f"{demo}/received.jsonl")]
rows = [line.rstrip("\n").split(" ") for line in open(f"{demo}/recorded.txt") if line.strip()]
recorded = {row[0] for row in rows}
ids = collections.Counter(r["id"] for r in received)
missing = recorded - set(ids)
# Every id the receiver got is one the store committed (a fenced leader commits nothing), and
# each application's recorded transitions follow on from each other: a transition announced
# twice under two ids would show as a step that does not start where the last one ended.
twice = sorted(set(ids) - recorded)
last = {}
for event_id, application, previous, status in rows:
    if application in last and previous != last[application]:
        twice.append(f"{application}: {previous}→{status} after →{last[application]}")
    last[application] = status
again = sum(n - 1 for n in ids.values() if n > 1)
print(f"  receiver: {len(received)} requests, {len(ids)} distinct events, "
      f"{sum(1 for r in received if r['account'].endswith('ALPHA000000000'))} from alpha")
print(f"  gap: {len(missing)} recorded events never delivered" + (f": {sorted(missing)}" if missing else ""))
print(f"  transitions under a second id: {len(twice)}" + (f": {twice}" if twice else ""))
print(f"  delivered again under the same id (in flight at the kill): {again}")
sys.exit(1 if missing or twice else 0)
PY
echo
echo "Audit files of both instances, verified together:"
"$BIN/compliance-watch" audit verify "$DEMO/one/audit.jsonl" "$DEMO/two/audit.jsonl" | sed 's/^/  /'
