import type {
  ApiErrorBody,
  App,
  Deploy,
  DeployQuery,
  DeploySnapshot,
  Host,
  Lock,
  LockRequest,
  LogLine,
  NewDeployRequest,
  Plan,
  Ref,
  WhoAmI,
} from "../../shared/api-types.ts";

/** The API's base, relative to the page: the UI also works when a proxy mounts the conductor under a path. */
export const apiBase = new URL("api/v1/", document.baseURI).href;

/** A refusal or failure, with the API's stable code (or "unreachable" when there was no answer). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** The REST API of docs/conductor-api.md, with a token. The CLI reads the same API through the same types. */
export class Api {
  readonly token: string;
  /** Called when the conductor no longer knows the token (401): the UI signs out. */
  onUnauthenticated: () => void = () => {};

  constructor(token: string) {
    this.token = token;
  }

  headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers = this.headers();
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(new URL(path, apiBase), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new ApiError(0, "unreachable", `the conductor did not answer (${(err as Error).message})`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError(response.status, "bad-response", `the conductor answered ${response.status} with something that is not JSON`);
    }
    if (!response.ok) {
      const error = (parsed as Partial<ApiErrorBody>).error;
      if (response.status === 401) this.onUnauthenticated();
      throw new ApiError(response.status, error?.code ?? "http", error?.message ?? `${method} ${path} answered ${response.status}`);
    }
    return parsed as T;
  }

  whoami(): Promise<WhoAmI> {
    return this.request("GET", "whoami");
  }

  async apps(signal?: AbortSignal): Promise<App[]> {
    return (await this.request<{ apps: App[] }>("GET", "apps", undefined, signal)).apps;
  }

  app(name: string, signal?: AbortSignal): Promise<App> {
    return this.request("GET", `apps/${encodeURIComponent(name)}`, undefined, signal);
  }

  async refs(app: string, fetchFirst = false, signal?: AbortSignal): Promise<Ref[]> {
    return (await this.request<{ refs: Ref[] }>("GET", `apps/${encodeURIComponent(app)}/refs${fetchFirst ? "?fetch=1" : ""}`, undefined, signal)).refs;
  }

  async hosts(signal?: AbortSignal): Promise<Host[]> {
    return (await this.request<{ hosts: Host[] }>("GET", "hosts", undefined, signal)).hosts;
  }

  async deploys(query: DeployQuery = {}, signal?: AbortSignal): Promise<Deploy[]> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== "") params.set(key, String(value));
    const search = params.size > 0 ? `?${params}` : "";
    return (await this.request<{ deploys: Deploy[] }>("GET", `deploys${search}`, undefined, signal)).deploys;
  }

  deploy(id: number, signal?: AbortSignal): Promise<DeploySnapshot> {
    return this.request("GET", `deploys/${id}`, undefined, signal);
  }

  log(id: number, host: string, offset: number, signal?: AbortSignal): Promise<{ lines: LogLine[]; next: number | null }> {
    const params = new URLSearchParams({ host, offset: String(offset), limit: "2000" });
    return this.request("GET", `deploys/${id}/log?${params}`, undefined, signal);
  }

  async plan(request: NewDeployRequest, signal?: AbortSignal): Promise<Plan> {
    return (await this.request<{ plan: Plan }>("POST", "plans", request, signal)).plan;
  }

  async createDeploy(request: NewDeployRequest): Promise<Deploy> {
    return (await this.request<{ deploy: Deploy }>("POST", "deploys", request)).deploy;
  }

  async cancel(id: number): Promise<Deploy> {
    return (await this.request<{ deploy: Deploy }>("POST", `deploys/${id}/cancel`)).deploy;
  }

  async rollback(id: number): Promise<Deploy> {
    return (await this.request<{ deploy: Deploy }>("POST", `deploys/${id}/rollback`)).deploy;
  }

  async lock(app: string, environment: string, request: LockRequest): Promise<Lock> {
    return (await this.request<{ lock: Lock }>("PUT", `apps/${encodeURIComponent(app)}/environments/${encodeURIComponent(environment)}/lock`, request)).lock;
  }

  async unlock(app: string, environment: string): Promise<void> {
    await this.request("DELETE", `apps/${encodeURIComponent(app)}/environments/${encodeURIComponent(environment)}/lock`);
  }
}
