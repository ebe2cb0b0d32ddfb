# compliance-watch: the two commands operators and CI use are `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
# System packages the build and the tests need (Debian 12 names).
APT_PACKAGES := libcurl4-openssl-dev libsystemd-dev libsqlite3-dev pkg-config python3 python3-aiosmtpd prometheus postgresql \
  debhelper dpkg-dev lintian mmdebstrap man-db bash-completion curl
VERSION := $(shell tr -d ' \n' < VERSION)
# The package test upgrades from this tree built as an older version.
PREVIOUS_VERSION := $(VERSION)~previous
SANDBOX_AUTH_ID ?= MAXXXXXXXXXXXXXXXXXX
SANDBOX_AUTH_TOKEN ?= sandbox-token

.PHONY: deps build format format-check test check-unit extras deb test-package demo demo-ha bench sandbox clean

## deps: install missing system packages with apt-get (only when run as root)
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages: $$missing (run as root, or: sudo apt-get install $$missing)" >&2; exit 1; \
	  fi; \
	fi

## build: debug build of every target
build: deps
	$(SWIFT) build --build-tests

FORMAT_PATHS := Package.swift Plugins Sources Tests

## format: rewrite the Swift sources as .swift-format says (swift-format from the toolchain)
format:
	$(SWIFT) format format --in-place --recursive --parallel $(FORMAT_PATHS)

## format-check: fail if a Swift source is not formatted (run by make test, first)
format-check:
	$(SWIFT) format lint --strict --recursive --parallel $(FORMAT_PATHS)

## test: check the formatting, install what is missing, build, run the whole suite, check the systemd unit, build the man page and completions, test the package in a booted Debian 12
test: format-check build
	$(SWIFT) test --skip-build
	./scripts/check-unit.sh
	promtool check rules config/prometheus-alerts.yml
	$(MAKE) --no-print-directory extras
	$(MAKE) --no-print-directory test-package

## deb: .build/deb/compliance-watch_VERSION-1_ARCH.deb (static Swift runtime, stripped; -dbgsym beside it), checked by lintian
deb: deps
	./scripts/build-deb.sh

## test-package: builds the package twice (the previous version, then this one) and runs the installed-system test (root)
test-package: deps
	CW_VERSION='$(PREVIOUS_VERSION)' LINTIAN=0 ./scripts/build-deb.sh > .build/previous-deb.path
	./scripts/build-deb.sh > .build/deb.path
	$(SWIFT) build --product plivo-sandbox
	./scripts/package-test.sh "$$(tail -1 .build/deb.path)" "$$(tail -1 .build/previous-deb.path)"

## extras: the man page and bash, zsh and fish completions of a built compliance-watch, in .build/share (checked)
EXTRAS_BIN ?= .build/debug/compliance-watch
extras:
	$(SWIFT) build --product generate-manual
	./scripts/build-extras.sh $(EXTRAS_BIN) .build/debug/generate-manual .build/share

## check-unit: systemd-analyze verify and security (exposure <= 1.5) on systemd/compliance-watch.service
check-unit:
	$(SWIFT) build --product compliance-watch
	./scripts/check-unit.sh

## demo: the daemon against the bundled sandbox with a file log, a signed webhook and mail (~90 s)
demo: deps
	$(SWIFT) build --product compliance-watch
	$(SWIFT) build --product plivo-sandbox
	./scripts/demo.sh

## demo-ha: two instances on a throwaway PostgreSQL, two sandbox accounts, one webhook receiver; the leader is killed halfway
demo-ha: deps
	$(SWIFT) build --product compliance-watch
	$(SWIFT) build --product plivo-sandbox
	./scripts/demo-ha.sh

## bench: release builds (dynamic in .build, static in .build-static as make deb builds it), a venv with Plivo's Python SDK, then every benchmark scenario against the sandbox (about 55 min: four runs are 10 min long); table on stdout, JSON and smaps in bench-results/
bench: deps
	$(SWIFT) build -c release --product compliance-watch
	$(SWIFT) build -c release --product compliance-watch-bench
	$(SWIFT) build -c release --product plivo-sandbox
	./scripts/build-static.sh >/dev/null
	test -x .build/bench-venv/bin/python || /usr/bin/python3 -m venv .build/bench-venv
	.build/bench-venv/bin/python -c 'import plivo' 2>/dev/null || .build/bench-venv/bin/pip install -q plivo
	.build/release/compliance-watch-bench bench-results/results.json

## sandbox: run plivo-sandbox on port 8089 with 100 seeded applications reviewed after 20 s
sandbox: deps
	$(SWIFT) build --product plivo-sandbox
	.build/debug/plivo-sandbox --port 8089 --auth-id $(SANDBOX_AUTH_ID) --auth-token $(SANDBOX_AUTH_TOKEN) \
	  --seed 100 --review-after 20s

clean:
	rm -rf .build
