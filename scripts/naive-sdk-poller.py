#!/usr/bin/env python3
"""naive-sdk-poller.py: the bench's naive baseline, a compliance poller as a user of Plivo's
official Python SDK (`pip install plivo`) would write it: every interval, list every compliance
application page by page with `client.compliance_applications.list`, keep the last status of each
in a dict and print what changed.

    naive-sdk-poller.py --base-url http://127.0.0.1:PORT --auth-id MA... --auth-token-file token [--interval 1]

The SDK has no base-URL option: `Client.request` sets `base_uri` from the module constant
`plivo.rest.client.PLIVO_API_BASE_URI` on every call, so that constant is pointed at the sandbox.
Prints `BASELINE n=N` once the first listing is complete, then one `CHANGE id old -> new` line per
change and one `CYCLE n=N changes=C seconds=S` line per cycle (stdout, flushed).
"""
import argparse
import signal
import sys
import time

import plivo
import plivo.rest.client as plivo_client

PAGE = 20  # the largest page Plivo serves for compliance lists


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="https://api.plivo.com")
    parser.add_argument("--auth-id", required=True)
    parser.add_argument("--auth-token-file", required=True)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between the starts of two listings")
    args = parser.parse_args()
    # A parent may have left these blocked (a Swift Foundation Process child inherits its mask).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    with open(args.auth_token_file) as f:
        token = f.read().strip()

    # Point the SDK at the sandbox (or keep api.plivo.com).
    plivo_client.PLIVO_API_BASE_URI = args.base_url.rstrip("/") + "/v1/Account"
    client = plivo.RestClient(args.auth_id, token, timeout=30)

    last: dict = {}
    first = True
    while True:
        started = time.monotonic()
        current = {}
        offset = 0
        try:
            while True:
                page = client.compliance_applications.list(limit=PAGE, offset=offset)
                objects = page.objects
                for app in objects:
                    current[app.compliance_application_id] = app.status
                if len(objects) < PAGE:
                    break
                offset += PAGE
        except plivo.exceptions.PlivoRestError as error:
            print(f"ERROR {error}", flush=True)
            time.sleep(args.interval)
            continue
        changes = 0
        if first:
            print(f"BASELINE n={len(current)}", flush=True)
            first = False
        else:
            for app_id, status in current.items():
                if last.get(app_id) != status:
                    print(f"CHANGE {app_id} {last.get(app_id)} -> {status}")
                    changes += 1
            for app_id in last.keys() - current.keys():
                print(f"CHANGE {app_id} {last[app_id]} -> gone")
                changes += 1
        last = current
        elapsed = time.monotonic() - started
        print(f"CYCLE n={len(current)} changes={changes} seconds={elapsed:.3f}", flush=True)
        time.sleep(max(0.0, args.interval - elapsed))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
