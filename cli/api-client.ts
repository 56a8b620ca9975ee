import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import type { Argv } from "yargs";
import { apiError, protocolExitCode, unreachableExitCode } from "./api-error.ts";
import type {
  App,
  Deploy,
  DeployQuery,
  DeploySnapshot,
  Health,
  Host,
  Lock,
  LockRequest,
  LogLine,
  LogQuery,
  NewDeployRequest,
  Ref,
} from "../shared/api-types.ts";
import { CliError } from "./cli-error.ts";

export const defaultServer = "http://127.0.0.1:8470";

export interface ApiArgs {
  server?: string;
  token?: string;
  "token-file"?: string;
  json: boolean;
}

/** The options every command that talks to the conductor shares. */
export function apiArgs<T>(yargs: Argv<T>): Argv<T & ApiArgs> {
  return yargs
    .option("server", { type: "string", describe: `the conductor's URL (default: $DEPLOYKIT_SERVER, then ${defaultServer})` })
    .option("token", { type: "string", describe: "API token (default: $DEPLOYKIT_TOKEN)" })
    .option("token-file", {
      type: "string",
      describe: "file holding the API token (default: $DEPLOYKIT_TOKEN_FILE, then $DEPLOYKIT_DATA_DIR/admin.token or ~/.deploykit/admin.token)",
    })
    .option("json", { type: "boolean", default: false, describe: "print the API's JSON as it is, for scripts" }) as unknown as Argv<T & ApiArgs>;
}

export interface ApiOptions {
  server: string;
  token?: string;
  /** Where the token came from, for error messages. */
  tokenSource?: string;
  /** Longest a request (not a stream) may take. */
  timeoutMs?: number;
}

/** Flags first, then the environment, then the admin token `deploykit up` leaves in its data directory. */
export function apiOptions(args: Partial<ApiArgs>, env: NodeJS.ProcessEnv = process.env, home = env.HOME ?? homedir()): ApiOptions {
  const server = normalizeServer(args.server || env.DEPLOYKIT_SERVER || defaultServer);
  if (args.token) return { server, token: args.token.trim(), tokenSource: "--token" };
  if (env.DEPLOYKIT_TOKEN) return { server, token: env.DEPLOYKIT_TOKEN.trim(), tokenSource: "DEPLOYKIT_TOKEN" };
  const explicit = args["token-file"] || env.DEPLOYKIT_TOKEN_FILE;
  if (explicit) return { server, token: readToken(explicit), tokenSource: explicit };
  const dataDir = env.DEPLOYKIT_DATA_DIR || (home ? path.join(home, ".deploykit") : undefined);
  const fallback = dataDir ? path.join(dataDir, "admin.token") : undefined;
  if (fallback && existsSync(fallback)) return { server, token: readToken(fallback), tokenSource: fallback };
  return { server };
}

function normalizeServer(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(`--server "${raw}" is not a URL: give the conductor's address, like ${defaultServer}`, 64);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`--server "${raw}" must be an http:// or https:// URL`, 64);
  return url.href.replace(/\/+$/, "");
}

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`cannot read the token file ${file}: ${(err as Error).message}; give another with --token-file, or the token itself with --token`, 66);
  }
  const token = text.trim();
  if (!token) throw new CliError(`the token file ${file} is empty: put the API token in it, or pass --token`, 66);
  return token;
}

type Query = Record<string, string | number | boolean | undefined>;

/** The conductor's REST API (docs/conductor-api.md), one method per route. */
export class ApiClient {
  readonly server: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ApiOptions) {
    this.server = options.server.replace(/\/+$/, "");
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  health(): Promise<Health> {
    return this.#json("GET", "/api/v1/health");
  }

  apps(): Promise<{ apps: App[] }> {
    return this.#json("GET", "/api/v1/apps");
  }

  app(app: string): Promise<App> {
    return this.#json("GET", `/api/v1/apps/${enc(app)}`);
  }

  refs(app: string, options: { fetch?: boolean } = {}): Promise<{ refs: Ref[] }> {
    return this.#json("GET", `/api/v1/apps/${enc(app)}/refs`, { query: { fetch: options.fetch ? 1 : undefined } });
  }

  hosts(): Promise<{ hosts: Host[] }> {
    return this.#json("GET", "/api/v1/hosts");
  }

  createDeploy(request: NewDeployRequest): Promise<{ deploy: Deploy }> {
    return this.#json("POST", "/api/v1/deploys", { body: request });
  }

  deploys(query: DeployQuery = {}): Promise<{ deploys: Deploy[] }> {
    return this.#json("GET", "/api/v1/deploys", { query: { ...query } });
  }

  deploy(id: number): Promise<DeploySnapshot> {
    return this.#json("GET", `/api/v1/deploys/${id}`);
  }

  deployLog(id: number, query: LogQuery = {}): Promise<{ lines: LogLine[]; next: number | null }> {
    return this.#json("GET", `/api/v1/deploys/${id}/log`, { query: { ...query } });
  }

  /** The deploy's server-sent events; the caller reads the body (see sse-stream.ts) and aborts `signal` to stop. */
  async stream(id: number, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const response = await this.#fetch("GET", `/api/v1/deploys/${id}/stream`, { signal, accept: "text/event-stream", timeout: false });
    const type = response.headers.get("content-type") ?? "";
    if (!response.body || !type.startsWith("text/event-stream")) {
      await response.body?.cancel();
      throw new CliError(`${this.server} answered the deploy stream with "${type || "no content type"}", not text/event-stream`, protocolExitCode);
    }
    return response.body;
  }

  cancel(id: number): Promise<{ deploy: Deploy }> {
    return this.#json("POST", `/api/v1/deploys/${id}/cancel`);
  }

  rollback(id: number): Promise<{ deploy: Deploy }> {
    return this.#json("POST", `/api/v1/deploys/${id}/rollback`);
  }

  lock(app: string, environment: string, request: LockRequest): Promise<{ lock: Lock }> {
    return this.#json("PUT", `/api/v1/apps/${enc(app)}/environments/${enc(environment)}/lock`, { body: request });
  }

  unlock(app: string, environment: string): Promise<{ unlocked: true }> {
    return this.#json("DELETE", `/api/v1/apps/${enc(app)}/environments/${enc(environment)}/lock`);
  }

  async #json<T>(method: string, route: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    const response = await this.#fetch(method, route, { ...options, accept: "application/json" });
    const text = await this.#text(response, route);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${this.server}${route} answered ${response.status} with something that is not JSON; is --server the conductor's address?`, protocolExitCode);
    }
  }

  async #fetch(
    method: string,
    route: string,
    options: { query?: Query; body?: unknown; accept: string; signal?: AbortSignal; timeout?: false },
  ): Promise<Response> {
    const url = new URL(`${this.server}${route}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== "") url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: options.accept };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const signals = [options.signal, options.timeout === false ? undefined : AbortSignal.timeout(this.#timeoutMs)].filter((s) => s !== undefined);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw this.#unreachable(err);
    }
    if (!response.ok) throw apiError(response.status, response.statusText, await this.#text(response, route), `${this.server}${route}`);
    return response;
  }

  async #text(response: Response, route: string): Promise<string> {
    try {
      return await response.text();
    } catch (err) {
      throw new CliError(`the conductor at ${this.server} stopped answering during ${route}: ${describe(err)}`, unreachableExitCode);
    }
  }

  #unreachable(err: unknown): CliError {
    const limit = this.#timeoutMs < 1000 ? `${this.#timeoutMs}ms` : `${Math.round(this.#timeoutMs / 1000)}s`;
    const why = (err as Error).name === "TimeoutError" ? `no answer within ${limit}` : describe(err);
    return new CliError(
      `cannot reach the conductor at ${this.server}: ${why}; start it with \`deploykit up\` or set --server (or DEPLOYKIT_SERVER) to its address`,
      unreachableExitCode,
    );
  }
}

/** fetch() says "fetch failed" and keeps the reason (ECONNREFUSED, ENOTFOUND, a TLS error) in `cause`. */
function describe(err: unknown): string {
  let cause: unknown = err;
  while ((cause as Error | undefined)?.cause) cause = (cause as Error).cause;
  const errors = (cause as AggregateError).errors;
  if (Array.isArray(errors) && errors.length > 0) cause = errors[0];
  const e = cause as NodeJS.ErrnoException;
  return e?.message || e?.code || String(err);
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/** The client a command's options (and the environment) describe. */
export function apiClient(args: Partial<ApiArgs>, env: NodeJS.ProcessEnv = process.env): ApiClient {
  return new ApiClient(apiOptions(args, env));
}
