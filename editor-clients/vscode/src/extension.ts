// QINet for VS Code: starts `qinet-lsp` over stdio and adds what plain LSP does not cover —
// Continue Text / Detect Language at the cursor, a restart command and a status bar item.
// Ghost text (textDocument/inlineCompletion) and the completion menu come from
// vscode-languageclient 11's built-in features; the server advertises both.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  CloseAction,
  type CloseHandlerResult,
  type DocumentSelector,
  type ErrorHandler,
  ErrorAction,
  type ErrorHandlerResult,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type Message,
  NotificationType,
  RevealOutputChannelOn,
  type ServerOptions,
  State,
} from "vscode-languageclient/node";

const SECTION = "qinet";
const CLIENT_ID = "qinet";
const CLIENT_NAME = "QINet";

// The server's own command ids. vscode-languageclient registers these as VS Code commands (from
// the server's executeCommandProvider), so the extension's commands use different ids.
const SERVER_CONTINUE_TEXT = "qinet.continueText";
const SERVER_DETECT_LANGUAGE = "qinet.detectLanguage";

const CMD_CONTINUE = "qinet.continueTextAtCursor";
const CMD_DETECT = "qinet.detectLanguageAtCursor";
const CMD_RESTART = "qinet.restartServer";

const DEFAULT_LANGUAGES = ["plaintext", "markdown"];
const MAX_RESTARTS = 4;

/** `qinet/status` (server → client) whenever the model starts loading, is ready or fails. */
interface ServerStatus {
  state: string; // "loading" | "ready" | "error"
  message?: string;
  checkpoint?: string | null;
}
const StatusNotification = new NotificationType<ServerStatus>("qinet/status");

/** Result of the server's `qinet.continueText`. */
interface ContinueResult {
  text?: string;
  applied?: boolean;
  reason?: string;
}

/** Result of the server's `qinet.detectLanguage`. */
interface DetectResult {
  language?: string | null;
  confidence?: number;
  scores?: Record<string, number>;
  state?: string;
}

/** How to start the server. */
export interface ServerCommand {
  command: string;
  args: string[];
  /** Where the command came from, for messages. */
  origin: "qinet.server.path" | "PATH" | "qinet.server.python";
}

// ---- finding the server -----------------------------------------------------------------------

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    if (process.platform !== "win32") {
      fs.accessSync(file, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

/** The first `name` on PATH that is an executable file (with PATHEXT on Windows). */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.PATH ?? env.Path ?? "").split(path.delimiter).filter((d) => d.length > 0);
  const exts =
    process.platform === "win32" ? ["", ...(env.PATHEXT ?? ".EXE;.CMD;.BAT;.COM").split(";")] : [""];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      if (isExecutableFile(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** `~` → home; a relative path → relative to the first workspace folder. */
function expandPath(p: string): string {
  let out = p.trim();
  if (out === "~" || out.startsWith("~/") || out.startsWith("~\\")) {
    out = path.join(os.homedir(), out.slice(1));
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!path.isAbsolute(out) && (out.includes("/") || out.includes("\\")) && folder !== undefined) {
    out = path.join(folder.uri.fsPath, out);
  }
  return out;
}

/** qinet.server.path, else `qinet-lsp` on PATH, else `<qinet.server.python> -m qinet_lsp`. */
export function resolveServerCommand(config: vscode.WorkspaceConfiguration): ServerCommand {
  const configured = (config.get<string>("server.path") ?? "").trim();
  if (configured.length > 0) {
    return { command: expandPath(configured), args: [], origin: "qinet.server.path" };
  }
  const onPath = findOnPath("qinet-lsp");
  if (onPath !== undefined) {
    return { command: onPath, args: [], origin: "PATH" };
  }
  const python = (config.get<string>("server.python") ?? "").trim() || "python3";
  return { command: expandPath(python), args: ["-m", "qinet_lsp"], origin: "qinet.server.python" };
}

function languages(config: vscode.WorkspaceConfiguration): string[] {
  const value = config.get<unknown>("languages");
  if (!Array.isArray(value)) {
    return DEFAULT_LANGUAGES;
  }
  return value.filter((v): v is string => typeof v === "string" && v.length > 0);
}

export function documentSelectorFor(languageIds: readonly string[]): DocumentSelector {
  return languageIds.flatMap((language) => [
    { scheme: "file", language },
    { scheme: "untitled", language },
  ]);
}

/** The `qinet` section as plain JSON (what the server also pulls with workspace/configuration). */
function qinetSettings(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(vscode.workspace.getConfiguration(SECTION))) as Record<string, unknown>;
}

// ---- status bar -------------------------------------------------------------------------------

class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private status: ServerStatus = { state: "loading", message: "Starting the QINet server…" };
  private language: { name: string; confidence: number } | undefined;

  constructor() {
    this.item = vscode.window.createStatusBarItem("qinet.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "QINet";
    this.item.command = CMD_DETECT;
    this.render();
    this.item.show();
  }

  get state(): string {
    return this.status.state;
  }

  setStatus(status: ServerStatus): void {
    this.status = status;
    this.render();
  }

  setLanguage(name: string | undefined, confidence = 0): void {
    this.language = name === undefined ? undefined : { name, confidence };
    this.render();
  }

  private render(): void {
    const state = this.status.state;
    const label = state === "loading" ? "loading…" : state;
    const language = this.language !== undefined && state === "ready" ? ` · ${this.language.name}` : "";
    this.item.text = `${state === "loading" ? "$(sync~spin) " : ""}QINet: ${label}${language}`;
    const lines = [this.status.message ?? `QINet: ${state}`];
    if (this.status.checkpoint) {
      lines.push(`Checkpoint: ${this.status.checkpoint}`);
    }
    if (this.language !== undefined) {
      lines.push(`Detected language: ${this.language.name} (${percent(this.language.confidence)})`);
    }
    lines.push("Click to detect the language at the cursor.");
    this.item.tooltip = lines.join("\n");
    this.item.backgroundColor =
      state === "error" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}

function percent(confidence: number): string {
  return `${Math.round(confidence * 100)}%`;
}

function preview(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

// ---- the client -------------------------------------------------------------------------------

class QinetExtension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private stopping = false;
  private autoRestarting = false;
  private queue: Promise<void> = Promise.resolve();
  private readonly output: vscode.LogOutputChannel;
  private readonly statusBar: StatusBar;
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    this.output = vscode.window.createOutputChannel(CLIENT_NAME, { log: true });
    this.statusBar = new StatusBar();
    this.disposables.push(
      this.output,
      this.statusBar,
      vscode.commands.registerCommand(CMD_CONTINUE, () => this.continueText()),
      vscode.commands.registerCommand(CMD_DETECT, () => this.detectLanguage()),
      vscode.commands.registerCommand(CMD_RESTART, () => this.restart()),
      vscode.workspace.onDidChangeConfiguration((event) => this.onConfigurationChanged(event)),
    );
  }

  /** Start/stop/restart one at a time. */
  private serialize(task: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(task, task);
    return this.queue;
  }

  start(): Promise<void> {
    return this.serialize(() => this.doStart());
  }

  restart(): Promise<void> {
    return this.serialize(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  stop(): Promise<void> {
    return this.serialize(() => this.doStop());
  }

  private async doStart(): Promise<void> {
    const config = vscode.workspace.getConfiguration(SECTION);
    const server = resolveServerCommand(config);
    const selected = languages(config);
    // No `transport`: the process still talks LSP on stdin/stdout, but TransportKind.stdio would
    // append `--stdio`, which the qinet-lsp command line does not accept.
    const serverOptions: ServerOptions = { command: server.command, args: server.args };
    const clientOptions: LanguageClientOptions = {
      documentSelector: documentSelectorFor(selected),
      synchronize: { configurationSection: SECTION },
      initializationOptions: () => qinetSettings(),
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      errorHandler: this.errorHandler(server),
    };
    const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
    this.client = client;
    this.stopping = false;
    this.autoRestarting = false;
    this.statusBar.setLanguage(undefined);
    this.statusBar.setStatus({ state: "loading", message: `Starting ${describe(server)}…` });
    client.onNotification(StatusNotification, (status) => this.statusBar.setStatus(status));
    client.onDidChangeState((event) => {
      if (this.client !== client) {
        return;
      }
      if (event.newState === State.Running) {
        this.autoRestarting = false;
      } else if (event.newState === State.Stopped && !this.stopping && !this.autoRestarting &&
                 this.statusBar.state !== "error") {
        this.statusBar.setStatus({ state: "error", message: `The QINet server stopped (${describe(server)}).` });
      }
    });
    this.output.info(`Starting ${describe(server)} for languages: ${selected.join(", ") || "(none)"}`);
    try {
      await client.start();
    } catch (error) {
      const message = `QINet: could not start the server (${describe(server)}): ${errorText(error)}`;
      this.statusBar.setStatus({ state: "error", message });
      void this.offerHelp(message);
    }
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    if (client === undefined) {
      return;
    }
    this.stopping = true;
    try {
      if (client.needsStop()) {
        await client.stop(5000);
      }
    } catch (error) {
      this.output.warn(`Stopping the server: ${errorText(error)}`);
    } finally {
      await client.dispose().catch(() => undefined);
      if (this.client === client) {
        this.client = undefined;
      }
    }
  }

  /** The default restart policy, with a message that says where the server came from. */
  private errorHandler(server: ServerCommand): ErrorHandler {
    let restarts: number[] = [];
    return {
      error: (_error: Error, _message: Message | undefined, count: number | undefined): ErrorHandlerResult =>
        count !== undefined && count <= 3 ? { action: ErrorAction.Continue } : { action: ErrorAction.Shutdown },
      closed: (): CloseHandlerResult => {
        const now = Date.now();
        restarts = [...restarts.filter((t) => now - t < 3 * 60_000), now];
        if (this.stopping) {
          return { action: CloseAction.DoNotRestart, handled: true };
        }
        if (restarts.length <= MAX_RESTARTS) {
          this.autoRestarting = true;
          this.statusBar.setStatus({ state: "loading", message: "The QINet server closed; restarting it…" });
          return { action: CloseAction.Restart, handled: true };
        }
        const message =
          `QINet: the server (${describe(server)}) stopped ${restarts.length} times in 3 minutes and ` +
          "will not be restarted. Check the QINet output and the qinet.server.* settings, then run " +
          "“QINet: Restart Server”.";
        this.statusBar.setStatus({ state: "error", message });
        void this.offerHelp(message);
        return { action: CloseAction.DoNotRestart, message, handled: true };
      },
    };
  }

  private async offerHelp(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, "Open Settings", "Show Output");
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "qinet.server");
    } else if (choice === "Show Output") {
      this.output.show(true);
    }
  }

  private onConfigurationChanged(event: vscode.ConfigurationChangeEvent): void {
    if (event.affectsConfiguration("qinet.server") || event.affectsConfiguration("qinet.languages")) {
      void vscode.window
        .showInformationMessage("QINet: restart the server to use the new setting.", "Restart")
        .then((choice) => (choice === "Restart" ? this.restart() : undefined));
    }
  }

  // ---- commands ---------------------------------------------------------------------------

  /** The running client and the argument {textDocument, position} for the active cursor. */
  private target(): { client: LanguageClient; editor: vscode.TextEditor; argument: object } | undefined {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) {
      void vscode.window.showInformationMessage("QINet: open a text document first.");
      return undefined;
    }
    const client = this.client;
    if (client === undefined || !client.isRunning()) {
      void vscode.window.showWarningMessage("QINet: the server is not running (try “QINet: Restart Server”).");
      return undefined;
    }
    const selector = documentSelectorFor(languages(vscode.workspace.getConfiguration(SECTION)));
    if (vscode.languages.match(selector as vscode.DocumentSelector, editor.document) === 0) {
      void vscode.window.showInformationMessage(
        `QINet does not serve ${editor.document.languageId} documents (setting qinet.languages; ` +
          "restart the server after changing it).",
      );
      return undefined;
    }
    const c2p = client.code2ProtocolConverter;
    const argument = {
      textDocument: { uri: c2p.asUri(editor.document.uri) },
      position: c2p.asPosition(editor.selection.active),
    };
    return { client, editor, argument };
  }

  private async execute<T>(client: LanguageClient, command: string, argument: object): Promise<T | undefined> {
    try {
      return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] })) as T;
    } catch (error) {
      void vscode.window.showErrorMessage(`QINet: ${errorText(error)}`);
      return undefined;
    }
  }

  async continueText(): Promise<void> {
    const target = this.target();
    if (target === undefined) {
      return;
    }
    const result = await this.execute<ContinueResult>(target.client, SERVER_CONTINUE_TEXT, target.argument);
    const text = result?.text ?? "";
    if (result === undefined || result.applied !== false || text.length === 0) {
      return;
    }
    const reasons: Record<string, string> = {
      document_changed: "the document changed while it was being written",
      document_closed: "the document was closed while it was being written",
      edit_unanswered: "the editor did not confirm the edit",
    };
    const why = reasons[result.reason ?? ""] ?? "the editor did not accept the edit";
    const choice = await vscode.window.showWarningMessage(
      `QINet: the continuation was not inserted (${why}): ${preview(text)}`,
      "Copy",
      "Insert at Cursor",
    );
    if (choice === "Copy") {
      await vscode.env.clipboard.writeText(text);
    } else if (choice === "Insert at Cursor") {
      const editor = vscode.window.activeTextEditor ?? target.editor;
      await editor.edit((edit) => edit.insert(editor.selection.active, text));
    }
  }

  async detectLanguage(): Promise<void> {
    const target = this.target();
    if (target === undefined) {
      return;
    }
    const result = await this.execute<DetectResult>(target.client, SERVER_DETECT_LANGUAGE, target.argument);
    if (result === undefined) {
      return;
    }
    if (result.language === undefined || result.language === null) {
      void vscode.window.showInformationMessage(
        `QINet: no language yet (the model is ${result.state ?? "not ready"}).`,
      );
      return;
    }
    const confidence = result.confidence ?? 0;
    this.statusBar.setLanguage(result.language, confidence);
    void vscode.window.showInformationMessage(
      `QINet: ${result.language} (confidence ${percent(confidence)})`,
    );
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

function describe(server: ServerCommand): string {
  return [server.command, ...server.args].join(" ") + ` (from ${server.origin})`;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

// ---- activation -------------------------------------------------------------------------------

let extension: QinetExtension | undefined;

export function activate(context: vscode.ExtensionContext): void {
  extension = new QinetExtension();
  context.subscriptions.push(extension);
  // Not awaited: activation finishes at once; the status bar shows the server starting.
  void extension.start();
}

export async function deactivate(): Promise<void> {
  const current = extension;
  extension = undefined;
  if (current !== undefined) {
    await current.stop();
  }
}
