-- qinet.nvim: the QINet writing assistant (qinet-lsp) in Neovim >= 0.11.
--   require("qinet").setup({ settings = { sampling = { temperature = 0.5 } } })
local M = {}
local ghost = require("qinet.ghost")

M.config = vim.deepcopy(require("qinet.defaults"))

local function clients(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = "qinet" })
end

local function position_argument(client)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  return { textDocument = params.textDocument, position = params.position }
end

--- Continue Text at the cursor: the server samples and inserts through workspace/applyEdit.
function M.continue_text(settings, on_done)
  local client = clients(0)[1]
  if not client then
    vim.notify("QINet: the server is not attached to this buffer", vim.log.levels.WARN)
    return
  end
  local arg = position_argument(client)
  arg.settings = settings
  client:exec_cmd({ title = "QINet: Continue Text", command = "qinet.continueText", arguments = { arg } },
    { bufnr = vim.api.nvim_get_current_buf() }, function(err, result)
      if err then
        vim.notify("QINet: " .. err.message, vim.log.levels.ERROR)
      elseif result and not result.applied and result.reason ~= "not_ready" and result.text ~= "" then
        vim.notify("QINet: not inserted (" .. tostring(result.reason) .. "): " .. result.text, vim.log.levels.WARN)
      end
      if on_done then
        on_done(err, result)
      end
    end)
end

--- Detect the language of the text before the cursor.
function M.detect_language(on_done)
  local client = clients(0)[1]
  if not client then
    return
  end
  client:exec_cmd({ title = "QINet: Detect Language", command = "qinet.detectLanguage",
    arguments = { position_argument(client) } }, { bufnr = vim.api.nvim_get_current_buf() },
    function(err, result)
      if result and result.language then
        vim.notify(("QINet: %s (%.0f%%)"):format(result.language, 100 * result.confidence))
      end
      if on_done then
        on_done(err, result)
      end
    end)
end

--- Change server settings at run time (merged into the current ones and pushed).
function M.set(settings)
  M.config.settings = vim.tbl_deep_extend("force", M.config.settings, settings)
  for _, client in ipairs(vim.lsp.get_clients({ name = "qinet" })) do
    client.settings = { qinet = M.config.settings }
    client:notify("workspace/didChangeConfiguration", { settings = client.settings })
  end
end

local function fallback(key, action)
  return function()
    if ghost.visible() then
      return "<Cmd>lua require('qinet.ghost')." .. action .. "()<CR>"
    end
    return key
  end
end

local function on_attach(bufnr)
  local keys, cfg = M.config.keys, M.config
  if vim.lsp.inline_completion then -- Neovim 0.12+: the built-in ghost text
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  else
    local group = vim.api.nvim_create_augroup("qinet_ghost_" .. bufnr, { clear = true })
    vim.api.nvim_create_autocmd("TextChangedI", { group = group, buffer = bufnr, callback = function()
      ghost.schedule(cfg.debounce_ms)
    end })
    vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, { group = group, buffer = bufnr,
      callback = ghost.clear })
    vim.api.nvim_create_autocmd("CursorMovedI", { group = group, buffer = bufnr, callback = function()
      if ghost.visible() then
        ghost.clear()
      end
    end })
    local map = { expr = true, replace_keycodes = true, buffer = bufnr }
    if keys.accept then
      vim.keymap.set("i", keys.accept, fallback(keys.accept, "accept"), map)
    end
    if keys.accept_word then
      vim.keymap.set("i", keys.accept_word, fallback(keys.accept_word, "accept_word"), map)
    end
    if keys.dismiss then
      vim.keymap.set("i", keys.dismiss, fallback(keys.dismiss, "clear"), map)
    end
  end
  if keys.continue then
    vim.keymap.set("n", keys.continue, M.continue_text, { buffer = bufnr, desc = "QINet: Continue Text" })
  end
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(require("qinet.defaults")), opts or {})
  vim.api.nvim_set_hl(0, "QinetGhost", { link = "Comment", default = true })
  vim.lsp.config("qinet", {
    cmd = M.config.cmd,
    filetypes = M.config.filetypes,
    root_markers = M.config.root_markers,
    init_options = { qinet = M.config.settings },
    settings = { qinet = M.config.settings },
  })
  vim.api.nvim_create_autocmd("LspAttach", {
    group = vim.api.nvim_create_augroup("qinet_attach", { clear = true }),
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == "qinet" then
        on_attach(args.buf)
      end
    end,
  })
  vim.api.nvim_create_user_command("QinetContinue", function()
    M.continue_text()
  end, { desc = "QINet: Continue Text at the cursor" })
  vim.api.nvim_create_user_command("QinetDetectLanguage", function()
    M.detect_language()
  end, { desc = "QINet: detect the language before the cursor" })
  vim.lsp.enable("qinet")
end

return M
