#!/usr/bin/env bash
# Build the packages and pack them into deploy/packs/, the tarballs the image installs
# (the same tarballs test/package/install.test.ts installs with npm). Needs Node and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
pnpm() { npx --yes pnpm@10.34.9 "$@"; }
pnpm install --frozen-lockfile
rm -rf packages/{sql,queue,replicator,cli}/dist deploy/packs
pnpm build
mkdir -p deploy/packs
# pnpm pack, not npm pack: it writes each workspace:* dependency as the version.
for p in sql queue replicator cli; do
  (cd "packages/$p" && pnpm pack --pack-destination ../../deploy/packs >/dev/null)
done
ls -1 deploy/packs
