#!/bin/sh
# trunk post_build hook (Trunk.toml): serves rrweb's recorder and player, pinned in
# tools/package.json, beside the console as /sg-record.js (with the guard's recorder bridge,
# src/browser/record-bridge.js, appended), /sg-replay.js and /sg-replay.css.
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
# One patch to the pinned recorder: to diff a style attribute it parses the old value with
# `setAttribute("style", ...)` on a detached element, which a Content-Security-Policy
# without inline style attributes (the console's) refuses, so every style change of a
# recorded page was a CSP violation and a wrong diff. Assigning `style.cssText` parses the
# same declarations through the CSSOM, which the policy allows. The patch must apply
# exactly once: a different rrweb build fails here instead of shipping unpatched.
patched='t.oldValue&&(c.style.cssText=t.oldValue)'
sed -e '/^\/\/# sourceMappingURL=/d' \
    -e 's/t\.oldValue&&c\.setAttribute("style",t\.oldValue)/t.oldValue\&\&(c.style.cssText=t.oldValue)/' \
    "$rrweb/record/dist/record.umd.min.cjs" > "$TRUNK_STAGING_DIR/sg-record.js"
if [ "$(grep -o 'setAttribute("style"' "$TRUNK_STAGING_DIR/sg-record.js" | wc -l)" != 0 ] ||
   [ "$(grep -oF "$patched" "$TRUNK_STAGING_DIR/sg-record.js" | wc -l)" != 1 ]; then
  echo "tools/copy-rrweb.sh: the style-attribute patch no longer applies to @rrweb/record" >&2
  exit 1
fi
# Our own recorder bridge (the code only a recorded tab runs: driving rrweb, batching,
# compressing and posting chunks, the tab's recording marks) follows rrweb in the same file,
# so the page loads it with rrweb and carries none of it until a session is recorded.
# Its whole-line comments are for its readers, not for the tab that downloads it.
printf '\n' >> "$TRUNK_STAGING_DIR/sg-record.js"
sed '/^[[:space:]]*\/\//d' src/browser/record-bridge.js >> "$TRUNK_STAGING_DIR/sg-record.js"
sed '/^\/\/# sourceMappingURL=/d' "$rrweb/replay/dist/replay.umd.min.cjs" > "$TRUNK_STAGING_DIR/sg-replay.js"
sed '/sourceMappingURL=/d' "$rrweb/replay/dist/style.min.css" > "$TRUNK_STAGING_DIR/sg-replay.css"
