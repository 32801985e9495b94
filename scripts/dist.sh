#!/usr/bin/env bash
# `make dist`: a versioned tarball of the release build, to run without a toolchain:
#   confab-VERSION/bin/confab, site/, .env.example, confab.service, README.md
#   scripts/dist.sh OUT_DIR [release|debug]    prints the tarball's path on stdout
# (`debug`: the same tarball from the dev profile, which `make test` unpacks and runs.)
set -euo pipefail
out="$1"
profile="${2:-release}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/server/Cargo.toml" | head -1)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
suffix=""
[ "$profile" = release ] || suffix="-$profile"
name="confab-$version-$commit-$(uname -m)-linux$suffix"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

site="$target/$profile-site"
server="$("$root/scripts/build-release.sh" "$site" "$profile")"
mkdir -p "$stage/$name/bin" "$out"
cp "$server" "$stage/$name/bin/confab"
cp -R "$site" "$stage/$name/site"
rm -f "$stage/$name"/site/pkg/.*.source
cp "$root/.env.example" "$root/deploy/systemd/confab.service" "$stage/$name/"
cat >"$stage/$name/README.md" <<TEXT
# Confab $version ($commit)

    CONFAB_SITE_ROOT=site bin/confab          # http://127.0.0.1:3000, data in ./data

Settings: .env.example (none is required). As a service: confab.service (unpack into
/opt/confab; the unit says how to install it). Source and documentation: the repository.
TEXT
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
