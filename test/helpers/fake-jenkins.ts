import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { jenkinsFixture } from "./jenkins-fixture.ts";

// A stand-in for Jenkins' remote API on a free loopback port, for tests of
// bus-to-jenkins and of the whole chain. It answers as Jenkins does:
//
//   GET  /crumbIssuer/api/json                  DefaultCrumbIssuer JSON + a JSESSIONID.* cookie
//   POST /job/A/job/B/buildWithParameters       201 + Location: URL/queue/item/N/
//   POST /job/A/job/B/build                     the same, for a job without parameters
//
// and refuses as Jenkins does: 401 for a wrong user or token, 403 "No valid
// crumb was included in the request" for a POST without the crumb of its
// session (cookie), 403 for anonymous, 404 for a job it does not have, 500
// "This build is not parameterized!" for buildWithParameters on a job without
// parameters, 503 while told to fail. Everything it triggered is in `triggers`.
//
//   const jenkins = await startFakeJenkins({ jobs: ["team/shop/main"] });
//   ... point bus-to-jenkins at jenkins.url, user jenkins.user, token jenkins.token ...
//   const [trigger] = await jenkins.waitForTriggers(1);
//   await jenkins.notify(`${statusUrl}/jenkins/notify`, jenkins.notification(trigger, "COMPLETED", "SUCCESS"));
//   await jenkins.close();

export interface FakeJenkinsOptions {
  user?: string;
  token?: string;
  /** Job full names (taking parameters), or name → { parameters: false } for a job without any. */
  jobs?: string[] | Record<string, { parameters?: boolean }>;
  /** "required" (the default): every POST needs its session's crumb. "disabled": no crumb issuer (404), none needed. */
  crumb?: "required" | "disabled";
}

/** One build Jenkins was asked for and queued. */
export interface JenkinsTrigger {
  job: string;
  endpoint: "build" | "buildWithParameters";
  /** From the form body and the query string, as Jenkins merges them. */
  parameters: Record<string, string>;
  queueId: number;
  /** The Location header it answered. */
  location: string;
  user: string;
}

/** Every request, in order, with the status it got. */
export interface JenkinsRequest {
  method: string;
  path: string;
  status: number;
}

export interface FakeJenkins {
  readonly url: string;
  readonly user: string;
  readonly token: string;
  readonly triggers: JenkinsTrigger[];
  readonly requests: JenkinsRequest[];
  /** How many crumbs the crumb issuer gave out. */
  readonly crumbsIssued: number;
  addJob(name: string, options?: { parameters?: boolean }): void;
  /** Answers the next `count` requests with `status` (503 unless told), as a Jenkins that is restarting does. */
  failNext(count: number, status?: number): void;
  /** Forgets every web session, as a Jenkins restart does: crumbs issued so far stop working. */
  expireSessions(): void;
  /** Resolves with the triggers once there are at least `count`. */
  waitForTriggers(count: number, timeoutMs?: number): Promise<JenkinsTrigger[]>;
  /**
   * The Notification plugin's JSON for a build of this trigger, in the shape
   * of test/fixtures/jenkins/ (build numbers count up per job). STARTED has no
   * status and no checkout yet; later phases carry scm url, branch and commit.
   */
  notification(trigger: JenkinsTrigger, phase: "QUEUED" | "STARTED" | "COMPLETED" | "FINALIZED", status?: string): Record<string, unknown>;
  /** POSTs a notification to an endpoint the way the plugin does (application/json;charset=UTF-8). */
  notify(endpoint: string, payload: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Stops answering: the port refuses connections, as a Jenkins that is down. */
  close(): Promise<void>;
  /** Listens again on the same port. */
  reopen(): Promise<void>;
}

const crumbField = "Jenkins-Crumb";

function page(status: number, message: string): string {
  return `<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n<title>Error ${status} ${message}</title>\n</head>\n<body><h2>HTTP ERROR ${status} ${message}</h2>\n</body>\n</html>\n`;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

function cookie(req: http.IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

/** Starts a fake Jenkins on a free loopback port. */
export async function startFakeJenkins(options: FakeJenkinsOptions = {}): Promise<FakeJenkins> {
  const user = options.user ?? "deploykit";
  const token = options.token ?? "11d2a5b7c9e0f1a3b5c7d9e0f2a4b6c8d0";
  const crumbMode = options.crumb ?? "required";
  const jobs = new Map<string, { parameters: boolean }>();
  const list: [string, { parameters?: boolean }][] = Array.isArray(options.jobs) ? options.jobs.map((name) => [name, {}]) : Object.entries(options.jobs ?? {});
  for (const [name, job] of list) jobs.set(name, { parameters: job.parameters ?? true });
  const cookieName = `JSESSIONID.${randomBytes(4).toString("hex")}`;
  const sessions = new Map<string, { crumb: string }>();
  const triggers: JenkinsTrigger[] = [];
  const requests: JenkinsRequest[] = [];
  const buildNumbers = new Map<number, number>();
  const lastNumber = new Map<string, number>();
  let failures: { count: number; status: number } = { count: 0, status: 503 };
  let nextQueueId = 101;
  let crumbsIssued = 0;
  let url = "";

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const requestUrl = new URL(req.url ?? "/", "http://jenkins");
    const body = await readBody(req);
    const answer = (status: number, text: string, headers: Record<string, string | string[]> = {}) => {
      requests.push({ method: req.method ?? "", path: requestUrl.pathname, status });
      res.writeHead(status, { "content-type": "text/html;charset=utf-8", "x-jenkins": "2.479.3", ...headers });
      res.end(text);
    };
    if (failures.count > 0) {
      failures.count--;
      return answer(failures.status, page(failures.status, "Service Unavailable"));
    }
    let who = "anonymous";
    const authorization = req.headers.authorization;
    if (authorization) {
      const decoded = Buffer.from(authorization.replace(/^Basic\s+/i, ""), "base64").toString("utf8");
      const [name, ...secret] = decoded.split(":");
      if (!/^Basic\s/i.test(authorization) || name !== user || secret.join(":") !== token) {
        return answer(401, page(401, `Invalid password/token for user: ${name}`));
      }
      who = user;
    }
    if (req.method === "GET" && requestUrl.pathname === "/crumbIssuer/api/json") {
      if (crumbMode === "disabled") return answer(404, page(404, "Not Found"));
      if (who === "anonymous") return answer(403, page(403, "Access Denied: anonymous is missing the Overall/Read permission"));
      let sessionId = cookie(req, cookieName);
      const headers: Record<string, string> = { "content-type": "application/json;charset=utf-8" };
      if (!sessionId || !sessions.has(sessionId)) {
        sessionId = randomBytes(12).toString("hex");
        sessions.set(sessionId, { crumb: createHash("sha256").update(`${sessionId}:${who}`).digest("hex") });
        headers["set-cookie"] = `${cookieName}=${sessionId}; Path=/; HttpOnly`;
      }
      crumbsIssued++;
      const crumb = (sessions.get(sessionId) as { crumb: string }).crumb;
      return answer(200, JSON.stringify({ _class: "hudson.security.csrf.DefaultCrumbIssuer", crumb, crumbRequestField: crumbField }), headers);
    }
    if (req.method === "POST") {
      if (crumbMode === "required") {
        const session = sessions.get(cookie(req, cookieName) ?? "");
        if (!session || req.headers[crumbField.toLowerCase()] !== session.crumb) return answer(403, page(403, "No valid crumb was included in the request"));
      }
      const match = /^((?:\/job\/[^/]+)+)\/(build|buildWithParameters)\/?$/.exec(requestUrl.pathname);
      if (match) {
        const name = (match[1] as string)
          .split("/job/")
          .slice(1)
          .map((segment) => decodeURIComponent(segment))
          .join("/");
        const job = jobs.get(name);
        if (!job) return answer(404, page(404, "Not Found"));
        if (who === "anonymous") return answer(403, page(403, "Access Denied: anonymous is missing the Job/Build permission"));
        const endpoint = match[2] as JenkinsTrigger["endpoint"];
        if (endpoint === "buildWithParameters" && !job.parameters) return answer(500, page(500, "java.lang.IllegalStateException: This build is not parameterized!"));
        if (endpoint === "build" && job.parameters) return answer(400, page(400, "This page expects a form submission"));
        const parameters: Record<string, string> = Object.fromEntries(requestUrl.searchParams);
        if ((req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) Object.assign(parameters, Object.fromEntries(new URLSearchParams(body)));
        const queueId = nextQueueId++;
        const location = `${url}/queue/item/${queueId}/`;
        triggers.push({ job: name, endpoint, parameters, queueId, location, user: who });
        return answer(201, "", { location });
      }
    }
    return answer(404, page(404, "Not Found"));
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;

  return {
    url,
    user,
    token,
    triggers,
    requests,
    get crumbsIssued() {
      return crumbsIssued;
    },
    addJob(name, job = {}) {
      jobs.set(name, { parameters: job.parameters ?? true });
    },
    failNext(count, status = 503) {
      failures = { count, status };
    },
    expireSessions() {
      sessions.clear();
    },
    async waitForTriggers(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (triggers.length < count) {
        if (Date.now() > deadline) throw new Error(`fake Jenkins: ${triggers.length} of ${count} triggers after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return triggers;
    },
    notification(trigger, phase, status) {
      let number = buildNumbers.get(trigger.queueId);
      if (number === undefined) {
        number = (lastNumber.get(trigger.job) ?? 0) + 1;
        lastNumber.set(trigger.job, number);
        buildNumbers.set(trigger.queueId, number);
      }
      const jobUrl = `${trigger.job
        .split("/")
        .map((segment) => `job/${encodeURIComponent(segment)}`)
        .join("/")}/`;
      const shape = jenkinsFixture(phase === "STARTED" ? "notification-started" : "notification-completed-success");
      const name = trigger.job.split("/").at(-1) as string;
      const ref = trigger.parameters.DEPLOYKIT_REF ?? "refs/heads/main";
      const checkedOut = phase === "COMPLETED" || phase === "FINALIZED";
      const build: Record<string, unknown> = {
        ...shape.build,
        full_url: `${url}/${jobUrl}${number}/`,
        number,
        queue_id: trigger.queueId,
        timestamp: Date.now(),
        duration: checkedOut ? 1234 : 0,
        phase,
        url: `${jobUrl}${number}/`,
        scm: checkedOut
          ? {
              url: `https://git.example.com/${trigger.parameters.DEPLOYKIT_REPO ?? "acme/shop"}.git`,
              branch: ref.replace(/^refs\/heads\//, "origin/"),
              commit: trigger.parameters.DEPLOYKIT_SHA,
              changes: [],
              culprits: [],
            }
          : { changes: [], culprits: [] },
        parameters: trigger.parameters,
        artifacts: {},
      };
      if (status === undefined) delete build.status;
      else build.status = status;
      return { name, display_name: name, url: jobUrl, build };
    },
    notify(endpoint, payload, headers = {}) {
      return fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json;charset=UTF-8", ...headers },
        body: JSON.stringify(payload),
      });
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
    reopen() {
      return listen(port);
    },
  };
}
