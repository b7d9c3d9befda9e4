-- Ghost text for Neovim 0.11 (0.12 has vim.lsp.inline_completion, which init.lua prefers):
-- ask the server for textDocument/inlineCompletion after a pause in typing, show the first
-- item as virtual text at the cursor, accept it whole or word by word.
local M = {}
local ns = vim.api.nvim_create_namespace("qinet_ghost")
local state = { bufnr = nil, row = nil, col = nil, text = nil, cancel = nil, timer = nil }

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = "qinet" })[1]
end

function M.visible()
  return state.text ~= nil
end

function M.text()
  return state.text
end

function M.clear()
  if state.cancel then
    state.cancel()
    state.cancel = nil
  end
  if state.bufnr and vim.api.nvim_buf_is_valid(state.bufnr) then
    vim.api.nvim_buf_clear_namespace(state.bufnr, ns, 0, -1)
  end
  state.text = nil
end

local function show(bufnr, row, col, text)
  vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  local lines = vim.split(text, "\n", { plain = true })
  local opts = { virt_text = { { lines[1], "QinetGhost" } }, virt_text_pos = "inline", hl_mode = "combine" }
  if #lines > 1 then
    opts.virt_lines = vim.tbl_map(function(l)
      return { { l, "QinetGhost" } }
    end, vim.list_slice(lines, 2))
  end
  vim.api.nvim_buf_set_extmark(bufnr, ns, row, col, opts)
  state.bufnr, state.row, state.col, state.text = bufnr, row, col, text
end

--- Ask for ghost text at the cursor of the current window.
function M.request()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    return
  end
  M.clear()
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  row = row - 1
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 2 } -- automatic
  local ok, id = client:request("textDocument/inlineCompletion", params, function(err, result)
    state.cancel = nil
    if err or not result then
      return
    end
    local items = result.items or result
    local cursor = vim.api.nvim_win_get_cursor(0)
    local moved = vim.api.nvim_get_current_buf() ~= bufnr or cursor[1] - 1 ~= row or cursor[2] ~= col
    if #items == 0 or moved or vim.fn.mode() ~= "i" then
      return
    end
    local text = items[1].insertText
    if type(text) == "table" then
      text = text.value
    end
    show(bufnr, row, col, text)
  end, bufnr)
  if ok and id then
    state.cancel = function()
      client:cancel_request(id)
    end
  end
end

--- Debounced request (on every change in insert mode).
function M.schedule(debounce_ms)
  M.clear()
  if state.timer then
    state.timer:stop()
  else
    state.timer = vim.uv.new_timer()
  end
  state.timer:start(debounce_ms, 0, vim.schedule_wrap(function()
    if vim.fn.mode() == "i" then
      M.request()
    end
  end))
end

local function insert(text)
  local bufnr, row, col = state.bufnr, state.row, state.col
  local lines = vim.split(text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
  local end_row = row + #lines - 1
  local end_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  return end_row, end_col
end

--- Insert the whole ghost text.
function M.accept()
  if not state.text then
    return
  end
  local text = state.text
  M.clear()
  insert(text)
end

--- Insert the ghost text's next word (with the spaces or punctuation before it).
function M.accept_word()
  if not state.text then
    return
  end
  local text = state.text
  local word = text:match("^[%s%p]*[%w_\128-\255']+") or text:match("^%s*%S+") or text
  local rest = text:sub(#word + 1)
  vim.api.nvim_buf_clear_namespace(state.bufnr, ns, 0, -1)
  state.text = nil
  local bufnr = state.bufnr
  local row, col = insert(word)
  if rest ~= "" then
    show(bufnr, row, col, rest)
  end
end

return M
