#!/usr/bin/env bash
# build-deb.sh: make deb. Builds compliance-watch with the Swift runtime linked in statically, the
# man page and completions, lays them out with debhelper (packaging/debian) and checks the result
# with lintian. Prints the .deb's path last.
#   CW_VERSION=0.1.9 scripts/build-deb.sh   builds the tree as another version (the package test's
#                                           "previous version"); its changelog is a single entry.
#   LINTIAN=0                               skips lintian.
set -euo pipefail
cd "$(dirname "$0")/.."
file_version=$(tr -d ' \n' < VERSION)
version=${CW_VERSION:-$file_version}
revision=1
out=.build/deb
arch=$(dpkg --print-architecture)

bin=$(./scripts/build-static.sh)
built=$("$bin" --version)
[[ $built == "$version ("* ]] || { echo "build-deb: the binary says $built, expected $version" >&2; exit 1; }
swift build --product generate-manual >/dev/null

stage=$out/compliance-watch-$version
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/config/examples"
cp -r packaging/debian "$stage/debian"
cp systemd/compliance-watch.service "$stage/debian/compliance-watch.service"
cp "$bin" "$stage/bin/"
./scripts/build-extras.sh "$bin" .build/debug/generate-manual "$stage/share" >/dev/null
cp config/compliance-watch.toml config/prometheus-alerts.yml "$stage/config/"
cp config/examples/*.toml "$stage/config/examples/"
cp README.md "$stage/"

if [ "$version" = "$file_version" ]; then
  top=$(dpkg-parsechangelog -l "$stage/debian/changelog" -S Version)
  [ "$top" = "$version-$revision" ] || {
    echo "build-deb: packaging/debian/changelog's top entry is $top; VERSION says $version (add an entry for $version-$revision)" >&2
    exit 1
  }
else
  cat > "$stage/debian/changelog" <<CHANGELOG
compliance-watch ($version-$revision) unstable; urgency=medium

  * Test build of $(git rev-parse --short=12 HEAD 2>/dev/null || echo "this tree") as version $version.

 -- compliance-watch maintainers <maintainers@compliance-watch.org>  $(date -R)
CHANGELOG
fi

(cd "$stage" && dpkg-buildpackage -b -uc -us -d >"../build.log" 2>&1) || { tail -40 "$out/build.log" >&2; exit 1; }
deb=$out/compliance-watch_${version}-${revision}_$arch.deb
[ -f "$deb" ] || { echo "build-deb: dpkg-buildpackage made no $deb" >&2; exit 1; }
if [ "${LINTIAN:-1}" != 0 ]; then
  # Errors fail the build; warnings are fixed or overridden with a reason
  # (packaging/debian/compliance-watch.lintian-overrides), so any left fail it too.
  lintian --allow-root --fail-on error,warning --info "$deb" >&2 || { echo "build-deb: lintian found problems in $deb" >&2; exit 1; }
fi
echo "$deb"
