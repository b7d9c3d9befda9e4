#!/usr/bin/env bash
# End-to-end test of qinet.vsix in a real VS Code: code-server 4.100.3 in headless Chromium, driven
# by Playwright (playwright-core with Debian's /usr/bin/chromium; no browser download), against the
# repository's real server (.venv/bin/qinet-lsp) and the shipped model checkpoints/qinet-default.pt.
#
#   editor-clients/vscode/e2e/run.sh                 # results in e2e/results/ (results.json, PNGs)
#   editor-clients/vscode/e2e/run.sh --update-docs   # also copy the ghost-text screenshot to
#                                                    # docs/screenshots/vscode-ghost-text.png
#
# Needs Node 20 + npm, chromium, ripgrep, libkrb5-dev and pkg-config (apt-installed when we are root
# and they are missing), the npm registry for the first `npm ci` only, and `make install` done.
# Exit status 0 only when every check in results.json passed; 77 (with a note) when this machine
# cannot run it at all (no Node 20/npm; Debian packages missing and not root), so that
# `make vscode-e2e` can skip it the way the other editor tests skip.
set -euo pipefail

E2E="$(cd "$(dirname "$0")" && pwd)"
EXT="$(dirname "$E2E")"
REPO="$(cd "$EXT/../.." && pwd)"
RESULTS="${QINET_E2E_RESULTS:-$E2E/results}"
SERVER="${QINET_E2E_SERVER:-$REPO/.venv/bin/qinet-lsp}"
CHECKPOINT="$REPO/checkpoints/qinet-default.pt"
CHROMIUM="${QINET_E2E_CHROMIUM:-/usr/bin/chromium}"
UPDATE_DOCS=0
for arg in "$@"; do
  case "$arg" in
    --update-docs) UPDATE_DOCS=1 ;;
    *) echo "usage: $0 [--update-docs]" >&2; exit 2 ;;
  esac
done

say() { printf '[vscode-e2e %s] %s\n' "$(date +%T)" "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }
skip() { say "SKIP: $*" >&2; exit 77; }
now() { date +%s.%N; }
T_START=$(now)

# ---- prerequisites --------------------------------------------------------------------------
command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are needed"
[ "$(node -p 'process.versions.node.split(".")[0]')" = 20 ] || skip "code-server 4.100.3 needs Node 20, not $(node --version)"
[ -x "$SERVER" ] || die "$SERVER not found: run 'make install' in $REPO first"
[ -f "$CHECKPOINT" ] || die "$CHECKPOINT not found"

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
command -v rg >/dev/null || missing+=(ripgrep)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -e /usr/include/krb5.h ] || [ -e /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    skip "missing ${missing[*]} (install them, e.g. apt-get install ${missing[*]})"
  fi
fi
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM"

# code-server and playwright-core, exactly as package-lock.json pins them. code-server's
# postinstall downloads ripgrep from GitHub; pre-fill that download cache with Debian's rg instead.
STAMP="$E2E/node_modules/.qinet-e2e-installed"
LOCK_SUM="$(sha256sum "$E2E/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LOCK_SUM" ]; then
  rg_cache="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-1.15.11"
  rg_tar="$rg_cache/ripgrep-v13.0.0-10-$(uname -m)-unknown-linux-musl.tar.gz"
  if [ ! -s "$rg_tar" ]; then
    rg_dir="$(mktemp -d)"
    cp "$(command -v rg)" "$rg_dir/rg"
    mkdir -p "$rg_cache"
    tar -C "$rg_dir" -czf "$rg_tar" rg
    rm -rf "$rg_dir"
  fi
  # Native modules build against the installed Node's headers (Debian's nodejs ships them in
  # /usr/include/node) instead of downloading them.
  nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  [ -f "$nodedir/include/node/node.h" ] || nodedir=""
  say "npm ci (code-server 4.100.3, playwright-core; about a minute)"
  (cd "$E2E" && if [ -n "$nodedir" ]; then export npm_config_nodedir="$nodedir"; fi &&
     npm_config_unsafe_perm=true npm_config_yes=true npm ci --no-audit --no-fund --loglevel=error)
  echo "$LOCK_SUM" > "$STAMP"
fi
CODE_SERVER="$E2E/node_modules/.bin/code-server"
[ -x "$CODE_SERVER" ] || die "$CODE_SERVER missing after npm ci"

# The extension: build the .vsix when it is missing or older than its sources.
VSIX="$EXT/qinet.vsix"
if [ ! -f "$VSIX" ] || [ -n "$(find "$EXT/src" "$EXT/package.json" "$EXT/package-lock.json" -newer "$VSIX" 2>/dev/null)" ]; then
  say "building qinet.vsix (../check.sh)"
  "$EXT/check.sh" >/dev/null
fi
T_INSTALLED=$(now)

# ---- a throw-away VS Code -------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/qinet-vscode-e2e.XXXXXX")"
CS_PID=""
cleanup() {
  local rc=$?
  if [ -n "$CS_PID" ] && kill -0 "$CS_PID" 2>/dev/null; then
    kill -TERM -- "-$CS_PID" 2>/dev/null || kill -TERM "$CS_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$CS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$CS_PID" 2>/dev/null || kill -KILL "$CS_PID" 2>/dev/null || true
  fi
  # Keep the logs (code-server, extension host, QINet output channel) next to the results.
  if [ -d "$RESULTS" ]; then
    mkdir -p "$RESULTS/logs"
    cp "$WORK/code-server.log" "$RESULTS/logs/" 2>/dev/null || true
    [ -d "$WORK/user-data/logs" ] && cp -r "$WORK/user-data/logs/." "$RESULTS/logs/" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$RESULTS"
mkdir -p "$RESULTS" "$WORK/user-data/User" "$WORK/extensions" "$WORK/workspace" "$WORK/xdg-config" "$WORK/xdg-data"
export XDG_CONFIG_HOME="$WORK/xdg-config" XDG_DATA_HOME="$WORK/xdg-data"  # keep code-server out of $HOME
: > "$WORK/workspace/story.txt"

# The user settings: the real server and model; nothing but QINet in the completion menu; no
# automatic completion popups (Ctrl+Space opens the menu), so the ghost text is not hidden by them.
node - "$WORK/user-data/User/settings.json" "$SERVER" "$CHECKPOINT" <<'EOF'
const [file, server, checkpoint] = process.argv.slice(2);
require("fs").writeFileSync(file, JSON.stringify({
  "qinet.server.path": server,
  "qinet.checkpoint": checkpoint,
  "qinet.sampling.seed": 1,
  "qinet.sampling.temperature": 0.5,
  "qinet.continue.maxChars": 80,
  "editor.inlineSuggest.enabled": true,
  "editor.quickSuggestions": { "other": "off", "comments": "off", "strings": "off" },
  "editor.wordBasedSuggestions": "off",
  "editor.suggestSelection": "first",
  "editor.acceptSuggestionOnEnter": "on",
  "editor.minimap.enabled": false,
  "files.autoSave": "off",
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "workbench.welcomePage.walkthroughs.openOnInstall": false,
  "chat.commandCenter.enabled": false,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "window.commandCenter": false
}, null, 2));
EOF

say "installing qinet.vsix into a temporary extensions dir"
"$CODE_SERVER" --user-data-dir "$WORK/user-data" --extensions-dir "$WORK/extensions" \
  --install-extension "$VSIX" > "$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; die "extension install failed"; }
ls "$WORK/extensions" | grep -q '^qinet-lsp\.qinet-' || { cat "$WORK/install.log"; die "qinet not in the extensions dir"; }

PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
say "starting code-server on 127.0.0.1:$PORT"
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" > "$WORK/config.yaml"
set -m  # its own process group, so that cleanup ends code-server, the extension host and qinet-lsp
"$CODE_SERVER" --config "$WORK/config.yaml" --auth none --bind-addr "127.0.0.1:$PORT" \
  --user-data-dir "$WORK/user-data" --extensions-dir "$WORK/extensions" \
  --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override "$WORK/workspace" > "$WORK/code-server.log" 2>&1 &
CS_PID=$!
set +m
healthy() { node -e 'require("http").get(process.argv[1], (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", () => process.exit(1))' "http://127.0.0.1:$PORT/healthz"; }
for _ in $(seq 120); do
  healthy && break
  kill -0 "$CS_PID" 2>/dev/null || { cat "$WORK/code-server.log"; die "code-server exited"; }
  sleep 0.5
done
healthy || { cat "$WORK/code-server.log"; die "code-server did not start within a minute"; }
T_STARTED=$(now)

# ---- the checks -----------------------------------------------------------------------------
say "running the Playwright checks"
set +e
timeout 300 node "$E2E/test.mjs" \
  --url "http://127.0.0.1:$PORT/?folder=$WORK/workspace" --workspace "$WORK/workspace" \
  --file story.txt --results "$RESULTS" --chromium "$CHROMIUM" --profile "$WORK/chromium"
TEST_RC=$?
set -e
T_END=$(now)

node - "$RESULTS/results.json" "$T_START" "$T_INSTALLED" "$T_STARTED" "$T_END" "$TEST_RC" <<'EOF'
const fs = require("fs");
const [file, t0, t1, t2, t3, rc] = process.argv.slice(2);
let r = {};
try { r = JSON.parse(fs.readFileSync(file, "utf8")); } catch { r = { ok: false, error: "test.mjs wrote no results" }; }
if (Number(rc) !== 0) { r.ok = false; r.exit_status = Number(rc); }
const s = (a, b) => Math.round((Number(b) - Number(a)) * 10) / 10;
r.timings_s = { install: s(t0, t1), start_code_server: s(t1, t2), checks: s(t2, t3), total: s(t0, t3) };
fs.writeFileSync(file, JSON.stringify(r, null, 2) + "\n");
for (const [name, c] of Object.entries(r.checks ?? {})) console.log(`  ${c.ok ? "PASS" : "FAIL"} ${name}: ${c.detail ?? ""}`);
if (r.error) console.log(`  ERROR ${r.error}`);
console.log(`  timings (s): ${JSON.stringify(r.timings_s)}`);
process.exit(r.ok ? 0 : 1);
EOF
if [ "$UPDATE_DOCS" = 1 ]; then
  mkdir -p "$REPO/docs/screenshots"
  cp "$RESULTS/vscode-ghost-text.png" "$REPO/docs/screenshots/vscode-ghost-text.png"
  say "updated docs/screenshots/vscode-ghost-text.png"
fi
say "all checks passed (results: $RESULTS/results.json)"
