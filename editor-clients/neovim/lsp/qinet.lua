-- For the native style: `vim.lsp.enable("qinet")` (Neovim 0.11+). The plugin's setup() adds
-- ghost text, keys and commands on top of this.
local defaults = require("qinet.defaults")
return {
  cmd = defaults.cmd,
  filetypes = defaults.filetypes,
  root_markers = defaults.root_markers,
  init_options = { qinet = defaults.settings },
  settings = { qinet = defaults.settings },
}
