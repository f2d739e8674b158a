#!/bin/sh
# trunk post_build hook (Trunk.toml): serves rrweb's recorder and player, pinned in
# tools/package.json, beside the console as /sg-record.js, /sg-replay.js and /sg-replay.css.
# trunk's copy-file keeps npm's names, and a `.cjs` file is served as
# application/octet-stream, which the browser refuses to run under `nosniff`.
# Only the console (the HTML of the repository root) gets them: the bench pages' size
# figures count every script in their folder, and they do not record.
set -eu
[ "$(cd "$TRUNK_SOURCE_DIR" && pwd -P)" = "$(pwd -P)" ] || exit 0
rrweb=tools/node_modules/@rrweb
for file in "$rrweb/record/dist/record.umd.min.cjs" "$rrweb/replay/dist/replay.umd.min.cjs" "$rrweb/replay/dist/style.min.css"; do
  [ -f "$file" ] || { echo "$file is missing: run npm ci in tools/ (cargo xtask demo does)" >&2; exit 1; }
done
# The source-map comment names a file that is not served.
sed '/^\/\/# sourceMappingURL=/d' "$rrweb/record/dist/record.umd.min.cjs" > "$TRUNK_STAGING_DIR/sg-record.js"
sed '/^\/\/# sourceMappingURL=/d' "$rrweb/replay/dist/replay.umd.min.cjs" > "$TRUNK_STAGING_DIR/sg-replay.js"
sed '/sourceMappingURL=/d' "$rrweb/replay/dist/style.min.css" > "$TRUNK_STAGING_DIR/sg-replay.css"
