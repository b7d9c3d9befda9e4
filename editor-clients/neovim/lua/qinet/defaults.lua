-- The plugin's one defaults table. Keys under `settings` are the server's `qinet` settings
-- (same names and defaults as server/qinet_lsp/settings.py; a test checks they agree).
return {
  cmd = { "qinet-lsp" }, -- the server command
  filetypes = { "text", "markdown" }, -- buffers the server attaches to
  root_markers = { ".git" }, -- where a workspace starts (a single file works too)
  debounce_ms = 150, -- wait this long after typing before asking for ghost text
  keys = {
    accept = "<Tab>", -- accept the whole ghost text (falls through when none is shown)
    accept_word = "<C-Right>", -- accept its next word (falls through when none is shown)
    dismiss = "<C-]>", -- hide the ghost text
    continue = "<leader>qc", -- Continue Text at the cursor (normal mode); false to skip
  },
  settings = {
    checkpoint = "", -- model file ("" = the shipped default)
    contextChars = 1000, -- characters before the cursor the model reads
    sampling = {
      temperature = 0.7, -- 0 = always the most likely byte
      topK = 0, -- sample among the k most likely bytes (0 = off)
      topP = 0.95, -- smallest set of bytes whose probability exceeds p (1 = off)
      seed = vim.NIL, -- fixed seed for repeatable suggestions (vim.NIL = random)
    },
    inline = {
      enable = true, -- ghost text while typing
      maxChars = 60, -- longest ghost text, in characters
      stopAt = "sentence", -- word | sentence | line | none
      candidates = 1, -- distinct suggestions to fetch
    },
    ["continue"] = {
      maxChars = 300, -- longest text Continue Text inserts
      stopAt = "none", -- word | sentence | line | none
    },
    completion = {
      enable = true, -- model words in the completion menu
      maxItems = 5, -- how many words
    },
  },
}
