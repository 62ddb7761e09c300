#!/usr/bin/env bash
# Fetches cytoscape.js from the npm registry, checks it against the pinned
# hash, and writes the minified build and its licence where the metrics
# crate embeds them (crates/metrics/assets/). Run it to check the committed
# copy, or after changing VERSION and SHA256 to upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=3.35.0
SHA256=71fa9ebec21a7ca2c40cff6aacc30d1f6464e363662ad4b2c197e1adc770cd94  # dist/cytoscape.min.js
DEST=crates/metrics/assets

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "cytoscape@$VERSION" >/dev/null && tar xzf "cytoscape-$VERSION.tgz")
got=$(sha256sum "$work/package/dist/cytoscape.min.js" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
    echo "vendor-cytoscape: cytoscape@$VERSION dist/cytoscape.min.js has sha256 $got, expected $SHA256" >&2
    exit 1
fi
cp "$work/package/dist/cytoscape.min.js" "$DEST/cytoscape.min.js"
cp "$work/package/LICENSE" "$DEST/cytoscape.LICENSE"
echo "vendor-cytoscape: cytoscape@$VERSION written to $DEST (sha256 $got)"
