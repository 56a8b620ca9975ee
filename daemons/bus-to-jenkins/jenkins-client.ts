import type { JobPath } from "./job-path.ts";

export interface JenkinsClientOptions {
  /** Jenkins' root URL, with its context path if any. */
  url: string;
  user: string;
  apiToken: string;
  requestTimeoutMs: number;
}

/** A build Jenkins put in its queue. */
export interface Queued {
  /** The queue item's absolute URL (the Location header), when Jenkins gave one. */
  location?: string;
  queueId?: number;
}

/** Why a trigger did not reach Jenkins' queue; `retryable` says whether trying later can help. */
export class JenkinsError extends Error {
  readonly retryable: boolean;
  readonly status?: number;
  constructor(message: string, retryable: boolean, status?: number) {
    super(message);
    this.name = "JenkinsError";
    this.retryable = retryable;
    this.status = status;
  }
}

interface Crumb {
  field: string;
  value: string;
}

/** The readable part of an error page: its title, or its text without tags, shortened. */
function summary(text: string): string {
  const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1];
  const plain = (title ?? text.replace(/<[^>]*>/g, " ")).replace(/\s+/g, " ").trim();
  return plain.length > 160 ? `${plain.slice(0, 160)}…` : plain;
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  if (error.name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
  const code = error.cause?.code;
  if (code === "ECONNREFUSED") return "connection refused (ECONNREFUSED)";
  if (code) return `${error.cause?.message ?? error.message} (${code})`;
  return error.cause?.message ?? error.message;
}

/**
 * Jenkins' remote API, for triggering builds: basic auth with a user and API
 * token, and a CSRF crumb fetched only when Jenkins asks for one. Jenkins ties
 * a crumb to the web session it was issued in, so the session cookie that
 * comes with it is kept and sent back with every request.
 */
export class JenkinsClient {
  readonly base: string;
  private readonly user: string;
  private readonly authorization?: string;
  private readonly timeoutMs: number;
  private crumb?: Crumb;
  private readonly cookies = new Map<string, string>();

  constructor(options: JenkinsClientOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.user = options.user;
    this.authorization = options.user ? `Basic ${Buffer.from(`${options.user}:${options.apiToken}`).toString("base64")}` : undefined;
    this.timeoutMs = options.requestTimeoutMs;
  }

  /** POSTs to the job's buildWithParameters (or build, without parameters) and returns the queue item. */
  async trigger(job: JobPath, parameters: Record<string, string> | undefined, signal: AbortSignal): Promise<Queued> {
    const url = `${this.base}${job.urlPath}/${parameters ? "buildWithParameters" : "build"}`;
    // A crumb we hold may have died with its session: one fresh crumb is worth a second try.
    for (let crumbsFetched = 0; ; ) {
      const response = await this.request(url, "POST", signal, parameters ? new URLSearchParams(parameters) : undefined);
      if (response.status === 403) {
        const text = await response.text();
        const wantsCrumb = /crumb/i.test(text);
        if (wantsCrumb && crumbsFetched < 2) {
          this.crumb = await this.fetchCrumb(signal);
          crumbsFetched++;
          continue;
        }
        throw new JenkinsError(
          wantsCrumb
            ? `Jenkins refused the crumb it issued for ${job.name} (403 ${summary(text)}): is a proxy dropping the session cookie?`
            : `Jenkins does not let ${this.who()} build ${job.name} (403 ${summary(text)}): grant Job/Build on it`,
          false,
          403,
        );
      }
      return this.queued(response, job, url);
    }
  }

  private who(): string {
    return this.user ? `user "${this.user}"` : "anonymous (bus-to-jenkins.user is empty)";
  }

  private async queued(response: Response, job: JobPath, url: string): Promise<Queued> {
    const { status } = response;
    const location = response.headers.get("location") ?? undefined;
    const text = await response.text();
    // Without valid credentials some setups redirect to the login page rather than answer 401.
    if (status === 401 || (status >= 300 && status < 400 && location && /\/login\b/.test(location))) {
      throw new JenkinsError(
        `Jenkins did not accept ${this.who()} with the configured API token (${status}): check bus-to-jenkins.user and bus-to-jenkins.apiToken`,
        false,
        status,
      );
    }
    if (status >= 200 && status < 400) {
      const queueId = location ? /\/queue\/item\/(\d+)\/?$/.exec(location)?.[1] : undefined;
      return { location, queueId: queueId === undefined ? undefined : Number(queueId) };
    }
    if (status === 404) throw new JenkinsError(`Jenkins has no job ${job.name} (404 for ${url}): fix the job in the jobs file, or create it`, false, 404);
    // Jenkins answers buildWithParameters on a job without parameters with a 500 that no retry can fix.
    if (/not parameterized/i.test(text)) {
      throw new JenkinsError(`${job.name} takes no parameters (${status}): set deploykitParameters: false and no parameters for it in the jobs file`, false, status);
    }
    if (status === 429 || status >= 500) throw new JenkinsError(`Jenkins answered ${status} ${summary(text)}`, true, status);
    const hint = status === 400 ? ": if the job takes parameters, give it some in the jobs file (or keep deploykitParameters: true)" : "";
    throw new JenkinsError(`Jenkins refused to build ${job.name} (${status} ${summary(text)})${hint}`, false, status);
  }

  private async fetchCrumb(signal: AbortSignal): Promise<Crumb> {
    const response = await this.request(`${this.base}/crumbIssuer/api/json`, "GET", signal);
    const text = await response.text();
    if (response.status === 429 || response.status >= 500) throw new JenkinsError(`Jenkins' crumb issuer answered ${response.status} ${summary(text)}`, true, response.status);
    if (!response.ok) {
      throw new JenkinsError(`Jenkins asked for a CSRF crumb, but ${this.base}/crumbIssuer/api/json answered ${response.status} ${summary(text)}`, false, response.status);
    }
    let answer: { crumb?: unknown; crumbRequestField?: unknown };
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      throw new JenkinsError(`Jenkins' crumb issuer did not answer JSON: ${summary(text)}`, false);
    }
    if (typeof answer?.crumb !== "string" || typeof answer.crumbRequestField !== "string" || !/^[A-Za-z0-9_.-]+$/.test(answer.crumbRequestField)) {
      throw new JenkinsError("Jenkins' crumb issuer answered without a crumb and crumbRequestField", false);
    }
    return { field: answer.crumbRequestField, value: answer.crumb };
  }

  private async request(url: string, method: "GET" | "POST", signal: AbortSignal, body?: URLSearchParams): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.authorization) headers.authorization = this.authorization;
    if (this.crumb && method === "POST") headers[this.crumb.field] = this.crumb.value;
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    if (body) headers["content-type"] = "application/x-www-form-urlencoded";
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body, redirect: "manual", signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]) });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new JenkinsError(`Jenkins at ${this.base} did not answer: ${describeFetchError(err, this.timeoutMs)}`, true);
    }
    for (const cookie of response.headers.getSetCookie()) {
      const pair = /^\s*([^=;\s]+)=([^;]*)/.exec(cookie);
      if (pair) this.cookies.set(pair[1] as string, pair[2] as string);
    }
    return response;
  }
}
