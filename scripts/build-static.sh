#!/usr/bin/env bash
# build-static.sh: the release binary as the Debian package ships it, in .build-static; prints its
# path. Used by make deb (scripts/build-deb.sh) and make bench, so both measure one artifact.
#   --static-swift-stdlib          the Swift runtime and Foundation linked in: only Debian 12
#                                  libraries at run time.
#   --build-id=sha1                the -dbgsym package and debuggers find the debug info by it.
#   lld, -z pack-relative-relocs   RELR: 133,000 relative relocations in 25 KB instead of 3 MiB of
#                                  .rela.dyn that the loader reads at every start (glibc >= 2.36).
#   --no-export-dynamic            the driver exports every symbol of our own modules (1 MiB of
#                                  .dynsym, 2 MiB of .dynstr, paged in by symbol lookups); nothing
#                                  looks them up. Backtraces are symbolised from the -dbgsym package.
# README.md, "The memory floor", has what each of these saved, measured with make bench.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib --product compliance-watch --scratch-path .build-static \
  -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic \
  -Xlinker --build-id=sha1 >&2
echo .build-static/release/compliance-watch
