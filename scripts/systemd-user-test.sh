#!/bin/bash
# The shipped unit under a real systemd 252 user manager, in a private mount namespace.
# Run as root: unshare -m scripts/systemd-user-test.sh BUILD_DIR credential|reload
# (WatchSystemdTests runs both phases, each in a fresh namespace, in `make test`). Prints one "ok"/"not ok" line per check; exits 1 if
# any failed. Nothing outside the namespace changes: /run, /usr/local/bin and /var/log/journal
# are private tmpfs mounts, and the cgroups it makes are removed at the end.
#
# The changes user mode needs, and nothing else:
#  1. /usr/local/bin is a tmpfs holding the built binary, so ExecStart=/ExecReload= stay as shipped.
#  2. The user manager creates its notify socket with mode 0755; PID 1's is 0777. A DynamicUser=
#     service's READY=1 is refused until it is made 0777.
#  3. A drop-in swaps LoadCredentialEncrypted= for the unit's documented alternative,
#     LoadCredential=, because the namespace has no host credential key; the token still arrives
#     only as a credential (the configuration names no other source).
#  4. The drop-in shortens WatchdogSec= to 6s (test time), and lengthens TimeoutAbortSec= to 60s, so
#     a SIGABRT that the Swift runtime caught would show as a restart a minute late.
#  5. ProtectHome=yes fails the start (226/NAMESPACE) in a user manager: it masks /run/user, which
#     holds the user manager's own "inaccessible" nodes (PID 1 keeps them in /run/systemd). The
#     drop-in uses ProtectHome=read-only (tmpfs would hide the credentials, which a user manager
#     also keeps under /run/user).
#  6. In a user manager, every control process (ExecReload=) of a unit that has credentials and
#     any mount namespacing fails with 226/NAMESPACE (bisected here: LoadCredential= plus
#     ProtectSystem= or PrivateMounts= alone is enough, with or without "+"). So the reload checks
#     run in a second phase, in a fresh namespace, in which the token comes from auth_token_file.
#  7. StateDirectory= and ConfigurationDirectory= both map to $XDG_CONFIG_HOME/compliance-watch
#     for a user manager, so the configuration's state path is relative ("state.db").
set -u
BUILD=$(cd "$1" && pwd)
PHASE=${2:-credential}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FAILED=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; FAILED=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
wait_for() { # SECONDS COMMAND...: true once COMMAND succeeds within SECONDS
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -ge $deadline ] && return 1; sleep 0.2; done
}

# Shared within this namespace only (the tmpfs is new, so nothing reaches the host): the manager
# mounts each service's credentials under /run/user, and the service's own namespace must see it.
mount -t tmpfs tmpfs /run && mount --make-rshared /run
mkdir -p /run/systemd/system /run/systemd/journal /run/user/0
# Not under /tmp or /home: the unit's PrivateTmp= and ProtectHome= would hide it from the service.
W=/run/cw-systemd-user-test
mkdir -p "$W"
mount -t tmpfs tmpfs /usr/local/bin
cp "$BUILD/compliance-watch" /usr/local/bin/compliance-watch
mkdir -p /var/log/journal && mount -t tmpfs tmpfs /var/log/journal
CG=cw-systemd-user-$$
for h in systemd unified; do mkdir -p /sys/fs/cgroup/$h/$CG && echo $$ > /sys/fs/cgroup/$h/$CG/cgroup.procs; done
export XDG_RUNTIME_DIR=/run/user/0 XDG_CONFIG_HOME=$W/config

PIDS=()
cleanup() {
    systemctl --user stop compliance-watch.service >/dev/null 2>&1
    # KILL: a SIGTERM the caller ignores stays ignored in these children.
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

# journald, so `journalctl` shows what the daemon logged; not the host's kernel log.
mkdir -p /run/systemd/journald.conf.d
printf '[Journal]\nReadKMsg=no\nForwardToKMsg=no\n' > /run/systemd/journald.conf.d/test.conf
/lib/systemd/systemd-journald >/dev/null 2>&1 &
PIDS+=($!)

# A sandbox with applications, and a real SMTP server, both on loopback.
TOKEN=user-manager-s3cr3t-token
"$BUILD/plivo-sandbox" --auth-id MAUSERMANAGER0000000 --auth-token "$TOKEN" --seed 12 > "$W/sandbox.out" 2>&1 &
PIDS+=($!)
mkdir -p "$W/mail"
/usr/bin/python3 "$ROOT/scripts/smtp-capture.py" "$W/mail" 0 > "$W/smtp.out" 2>&1 &
PIDS+=($!)
wait_for 20 grep -q 'listening on' "$W/sandbox.out" || { bad "sandbox started"; exit 1; }
wait_for 20 grep -q "listening on" "$W/smtp.out" || { bad "SMTP server started"; cat "$W/smtp.out"; exit 1; }
BASE=$(sed -n 's/^listening on //p' "$W/sandbox.out")
SMTP_PORT=$(sed -n 's/^listening on //p' "$W/smtp.out")

CONF=$XDG_CONFIG_HOME/compliance-watch
mkdir -p "$CONF" "$XDG_CONFIG_HOME/systemd/user/compliance-watch.service.d"
cp "$ROOT/systemd/compliance-watch.service" "$XDG_CONFIG_HOME/systemd/user/"
TOKEN_FILE=""
if [ "$PHASE" = credential ]; then
    printf '%s' "$TOKEN" > "$W/token" && chmod 600 "$W/token"
    CREDENTIAL="LoadCredential=plivo-auth-token:$W/token"
else
    printf '%s' "$TOKEN" > "$CONF/token" && chmod 644 "$CONF/token"
    TOKEN_FILE='auth_token_file = "token"'
    CREDENTIAL=""
fi
cat > "$XDG_CONFIG_HOME/systemd/user/compliance-watch.service.d/user-manager-test.conf" <<EOF
[Service]
LoadCredentialEncrypted=
$CREDENTIAL
WatchdogSec=6s
TimeoutAbortSec=60s
ProtectHome=read-only
EOF
write_config() {
    cat > "$CONF/compliance-watch.toml" <<EOF
[plivo]
$TOKEN_FILE
auth_id = "MAUSERMANAGER0000000"
base_url = "$BASE"
max_requests_per_second = 50
[poll]
interval = "500ms"
announce_existing = true
[state]
path = "state.db"
[delivery]
backoff_base = "200ms"
backoff_max = "1s"
[[sinks]]
name = "audit"
type = "file"
path = "audit/events.jsonl"
[[sinks]]
name = "down"
type = "webhook"
url = "http://127.0.0.1:9/hook"
[[sinks]]
name = "mail"
type = "mail"
from = "watch@example.com"
to = ["ops@example.com"]
transport = "smtp"
url = "smtp://127.0.0.1:$SMTP_PORT"
starttls = "none"
$1
EOF
}
write_config ""

SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_COLOR=no /lib/systemd/systemd --user > "$W/manager.log" 2>&1 &
PIDS+=($!)
wait_for 20 test -S "$XDG_RUNTIME_DIR/systemd/notify" || { bad "user manager started"; cat "$W/manager.log"; exit 1; }
chmod 0777 "$XDG_RUNTIME_DIR/systemd/notify"
systemctl --user daemon-reload

prop() { systemctl --user show -P "$1" compliance-watch.service; }
status_has() { prop StatusText | grep -q -- "$1"; }

timeout 60 systemctl --user start compliance-watch.service
check "start returns once the daemon sent READY=1" test "$(prop ActiveState)" = active
if [ "$(prop ActiveState)" != active ]; then
    systemctl --user status --no-pager compliance-watch.service | sed 's/^/# /'
    { grep -i "compliance-watch" "$W/manager.log" | tail -40; journalctl --no-pager -o short-monotonic | tail -25; } | sed "s/^/@ /"
    exit 1
fi
check "the status line reports tracking, so the token arrived ($([ "$PHASE" = credential ] && echo 'as a credential' || echo 'from auth_token_file'))" wait_for 30 status_has "tracking 12"
check "the state and the audit file are in the StateDirectory" wait_for 20 test -s "$CONF/audit/events.jsonl"
check "mail went out over SMTP to the loopback relay under the hardened unit" wait_for 30 test -s "$W/mail/0001.eml"

if [ "$PHASE" = credential ]; then
PID=$(prop MainPID)
kill -STOP "$PID"
check "a SIGSTOPped daemon is restarted by the watchdog (not after TimeoutAbortSec=60s)" wait_for 25 sh -c "test \"\$(systemctl --user show -P MainPID compliance-watch.service)\" != $PID && test \"\$(systemctl --user show -P MainPID compliance-watch.service)\" != 0"
check "systemd counted one restart" test "$(prop NRestarts)" = 1
check "after the restart it is active and tracking again" wait_for 30 status_has "tracking"

timeout 60 systemctl --user stop compliance-watch.service
check "stop returns and the unit is inactive" test "$(prop ActiveState)" = inactive
PENDING=$(compliance-watch deliveries list --config "$CONF/compliance-watch.toml" --sink down --state pending --json 2>/dev/null | grep -o '"state" *: *"pending"' | wc -l)
check "deliveries to the unreachable webhook are kept pending across the stop ($PENDING)" test "$PENDING" -gt 0
else
timeout 30 systemctl --user reload compliance-watch.service
check "reload of a good file returns 0" test $? -eq 0
check "the status line is back to tracking after the reload" wait_for 10 status_has "tracking"
write_config "bogus_key = 1"
timeout 30 systemctl --user reload compliance-watch.service
RC=$?
check "reload of a broken file still returns (rc $RC) and the daemon keeps running" test "$(prop ActiveState)" = active
check "the status line says the reload was refused" wait_for 10 status_has "reload refused"
check "the reason is in the journal message itself" wait_for 10 sh -c 'journalctl --no-pager -o cat 2>/dev/null | grep -q "reload refused: .*bogus_key: unknown key"'
timeout 60 systemctl --user stop compliance-watch.service
write_config "[broken"
RESTARTS=$(prop NRestarts)
systemctl --user start compliance-watch.service >/dev/null 2>&1
check "a bad configuration fails the start with exit status 78" wait_for 10 sh -c 'test "$(systemctl --user show -P ExecMainStatus compliance-watch.service)" = 78'
sleep 7  # longer than RestartSec=5s: a restart loop would have begun
check "and is not restarted (RestartPreventExitStatus=78)" test "$(prop NRestarts)" = "$RESTARTS"
check "the unit is failed, not activating" test "$(prop ActiveState)" = failed
fi

if [ -n "${CW_DEBUG:-}" ]; then
    { grep -i "compliance-watch" "$W/manager.log" | tail -40; journalctl --no-pager -o short-monotonic | grep -v ' kernel: \|delivery failed\|thread priority' | grep -v 'application changed\|event delivered' | tail -60; } | sed "s/^/@ /"
fi
exit $FAILED
