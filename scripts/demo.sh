#!/usr/bin/env bash
# make demo: the daemon against the bundled Plivo sandbox, with every sink, for about 90 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/debug
DURATION=${DEMO_SECONDS:-90}
DEMO=$(mktemp -d /tmp/compliance-watch-demo.XXXXXX)
AUTH_ID=MADEMO00000000000000
TOKEN=demo-token-$RANDOM$RANDOM
SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
source scripts/demo-lib.sh
trap cleanup_pids EXIT
trap 'echo; echo "stopping…"; exit 0' INT TERM

echo "demo directory: $DEMO"
"$BIN/plivo-sandbox" --auth-id "$AUTH_ID" --auth-token "$TOKEN" --seed 40 --review-after 6s --accept-ratio 0.7 \
  > "$DEMO/sandbox.out" 2>&1 &
pids+=($!)
SANDBOX_PORT=$(wait_line "$DEMO/sandbox.out")
/usr/bin/python3 scripts/webhook-receiver.py "$SECRET" > "$DEMO/receiver.out" 2>&1 &
pids+=($!)
RECEIVER_PORT=$(wait_line "$DEMO/receiver.out")
tail -n +2 -f "$DEMO/receiver.out" &
pids+=($!)

printf '%s' "$TOKEN" > "$DEMO/plivo-auth-token"
printf '%s' "$SECRET" > "$DEMO/webhook-secret"
chmod 600 "$DEMO/plivo-auth-token" "$DEMO/webhook-secret"  # secret files must be private
cat > "$DEMO/compliance-watch.toml" <<TOML
[plivo]
auth_id = "$AUTH_ID"
auth_token_file = "plivo-auth-token"
base_url = "http://127.0.0.1:$SANDBOX_PORT"
[poll]
interval = "2s"
settled_interval = "1m"
[state]
path = "state/state.db"
[log]
level = "warning"

[[sinks]]
name = "audit"
type = "file"
path = "log/events.jsonl"

[[sinks]]
name = "receiver"
type = "webhook"
url = "http://127.0.0.1:$RECEIVER_PORT/hooks/compliance"
secret_files = ["webhook-secret"]

[[sinks]]
name = "mail"
type = "mail"
transport = "command"
command = ["/usr/bin/tee", "-a", "$DEMO/mail.txt"]
from = "compliance-watch@example.com"
to = ["ops@example.com"]
[sinks.filter]
types = ["compliance_application.status_changed"]
to = ["accepted", "rejected"]
TOML

"$BIN/compliance-watch" check-config --config "$DEMO/compliance-watch.toml" | sed 's/^/  /'
echo
echo "Watching 40 seeded applications; drafts and rejected ones are submitted as the demo runs,"
echo "and the sandbox's reviewer decides each about 6 s later. Ctrl-C stops early."
echo
"$BIN/compliance-watch" run --config "$DEMO/compliance-watch.toml" 2> "$DEMO/daemon.log" &
DAEMON=$!
pids+=($DAEMON)

API="http://127.0.0.1:$SANDBOX_PORT/v1/Account/$AUTH_ID"
end=$((SECONDS + DURATION))
while [ $SECONDS -lt $end ]; do
  sleep 5
  # Submit one draft or rejected application, as a person would after fixing documents.
  id=$(curl -s -u "$AUTH_ID:$TOKEN" "$API/ComplianceApplication/?status=draft&limit=1" | /usr/bin/python3 -c \
    'import json,sys; o=json.load(sys.stdin)["objects"]; print(o[0]["compliance_application_id"] if o else "")')
  [ -z "$id" ] && id=$(curl -s -u "$AUTH_ID:$TOKEN" "$API/ComplianceApplication/?status=rejected&limit=1" | /usr/bin/python3 -c \
    'import json,sys; o=json.load(sys.stdin)["objects"]; print(o[0]["compliance_application_id"] if o else "")')
  [ -n "$id" ] && curl -s -o /dev/null -u "$AUTH_ID:$TOKEN" -H 'Content-Type: application/json' -d '{}' "$API/ComplianceApplication/$id/Submit/"
done

kill -TERM $DAEMON 2>/dev/null || true
wait $DAEMON 2>/dev/null || true
echo
"$BIN/compliance-watch" status --config "$DEMO/compliance-watch.toml" | sed 's/^/  /'
echo
echo "Audit log:   $DEMO/log/events.jsonl ($(wc -l < "$DEMO/log/events.jsonl") lines)"
echo "Mail sent:   $DEMO/mail.txt ($(grep -c '^Message-ID' "$DEMO/mail.txt" 2>/dev/null || echo 0) messages)"
echo "Verify it:   $BIN/compliance-watch audit verify $DEMO/log/events.jsonl --config $DEMO/compliance-watch.toml"
"$BIN/compliance-watch" audit verify "$DEMO/log/events.jsonl" --config "$DEMO/compliance-watch.toml" | sed 's/^/  /'
