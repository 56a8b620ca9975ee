import http from "node:http";
import net from "node:net";
import test, { type ExecutionContext } from "ava";
import express, { type Express } from "express";
import { Counter, Registry } from "prom-client";
import { type HttpOptions, type HttpServer, serveHttp } from "../../../shared/http/serve-http.ts";
import { captureLog } from "../../helpers/capture-log.ts";

async function serve(t: ExecutionContext, routes: (app: Express) => void = () => {}, options: Partial<HttpOptions> = {}) {
  const { log, lines } = captureLog();
  const server = await serveHttp({ host: "127.0.0.1", port: 0, log, routes, ...options });
  t.teardown(() => server.close(0));
  return { server, lines };
}

/** One request on its own connection, with the raw status, headers and body. */
function request(server: HttpServer, path: string, options: { method?: string; body?: string; headers?: Record<string, string>; agent?: http.Agent } = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(`${server.url}${path}`, { method: options.method ?? "GET", headers: options.headers, agent: options.agent ?? false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

test("GET /healthz answers ok as text; no X-Powered-By", async (t) => {
  const { server } = await serve(t);
  const answer = await request(server, "/healthz");
  t.is(answer.status, 200);
  t.is(answer.body, "ok\n");
  t.regex(answer.headers["content-type"] ?? "", /^text\/plain/);
  t.is(answer.headers["x-powered-by"], undefined);
});

test("GET /metrics serves the daemon's registry and Node's process metrics as Prometheus text", async (t) => {
  const registry = new Registry();
  const hits = new Counter({ name: "test_hits_total", help: "hits", registers: [registry] });
  hits.inc(3);
  const { server } = await serve(t, () => {}, { registry });
  t.is(server.registry, registry);
  const answer = await request(server, "/metrics");
  t.is(answer.status, 200);
  t.regex(answer.headers["content-type"] ?? "", /^text\/plain; version=0\.0\.4/);
  t.regex(answer.body, /^test_hits_total 3$/m);
  t.regex(answer.body, /^process_cpu_user_seconds_total \d/m);
  t.regex(answer.body, /^nodejs_eventloop_lag_seconds /m);
});

test("a registry can be served again after its server closed (a daemon restarted in one process)", async (t) => {
  const registry = new Registry();
  const { log } = captureLog();
  const first = await serveHttp({ host: "127.0.0.1", port: 0, log, routes: () => {}, registry });
  await first.close();
  const second = await serveHttp({ host: "127.0.0.1", port: 0, log, routes: () => {}, registry });
  t.teardown(() => second.close(0));
  t.regex((await request(second, "/metrics")).body, /^process_cpu_user_seconds_total /m);
});

test("the daemon's routes are served; an unknown path is a JSON 404 naming it", async (t) => {
  const { server } = await serve(t, (app) => {
    app.get("/hello", (_req, res) => {
      res.json({ hello: "world" });
    });
  });
  t.deepEqual(JSON.parse((await request(server, "/hello")).body), { hello: "world" });
  const missing = await request(server, "/nope?x=1", { method: "POST" });
  t.is(missing.status, 404);
  t.regex(missing.headers["content-type"] ?? "", /^application\/json/);
  t.deepEqual(JSON.parse(missing.body), { error: "no route for POST /nope" });
});

test("broken JSON is a JSON 400 and a body past the parser's limit a JSON 413", async (t) => {
  const { server, lines } = await serve(t, (app) => {
    app.post("/json", express.json({ limit: 64 }), (req, res) => {
      res.json({ got: req.body });
    });
  });
  const json = { "Content-Type": "application/json" };
  t.deepEqual(JSON.parse((await request(server, "/json", { method: "POST", headers: json, body: '{"a":1}' })).body), { got: { a: 1 } });
  const broken = await request(server, "/json", { method: "POST", headers: json, body: '{"a":' });
  t.is(broken.status, 400);
  t.regex(JSON.parse(broken.body).error, /^body is not valid JSON: /);
  const large = await request(server, "/json", { method: "POST", headers: json, body: JSON.stringify({ a: "x".repeat(100) }) });
  t.is(large.status, 413);
  t.deepEqual(JSON.parse(large.body), { error: "request body too large" });
  t.false(
    lines.some((line) => line.level === 50),
    "a client's mistake is not logged as a failure",
  );
});

test("a route that throws is a JSON 500 without the error's text or stack; the error goes to the log", async (t) => {
  const { server, lines } = await serve(t, (app) => {
    app.get("/sync", () => {
      throw new Error("secret detail at /etc/deploykit/keys");
    });
    app.get("/async", async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error("async failure");
    });
  });
  for (const path of ["/sync", "/async"]) {
    const answer = await request(server, path);
    t.is(answer.status, 500);
    t.deepEqual(JSON.parse(answer.body), { error: "internal error (see the daemon's log)" });
  }
  const logged = lines.filter((line) => line.msg === "request failed");
  t.deepEqual(
    logged.map((line) => [line.path, (line.err as { message: string }).message]),
    [
      ["/sync", "secret detail at /etc/deploykit/keys"],
      ["/async", "async failure"],
    ],
  );
});

test("an error carrying a 4xx status keeps it and its message", async (t) => {
  const { server } = await serve(t, (app) => {
    app.get("/teapot", () => {
      throw Object.assign(new Error("short and stout"), { status: 418 });
    });
    app.get("/upstream", () => {
      throw Object.assign(new Error("upstream says 502"), { status: 502 });
    });
  });
  const teapot = await request(server, "/teapot");
  t.is(teapot.status, 418);
  t.deepEqual(JSON.parse(teapot.body), { error: "short and stout" });
  const upstream = await request(server, "/upstream");
  t.is(upstream.status, 500, "a 5xx from a route is an internal error, its message kept in the log");
  t.deepEqual(JSON.parse(upstream.body), { error: "internal error (see the daemon's log)" });
});

test("a route that fails after it started its answer has the connection cut, not left hanging", async (t) => {
  const { server, lines } = await serve(t, (app) => {
    app.get("/half", async (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.write("partial");
      await new Promise((resolve) => setTimeout(resolve, 10));
      throw new Error("failed mid-answer");
    });
  });
  const started = Date.now();
  const error = await t.throwsAsync(request(server, "/half"));
  t.regex(String(error?.message), /aborted|socket hang up|ECONNRESET/);
  t.true(Date.now() - started < 2_000, `cut in ${Date.now() - started} ms`);
  t.true(lines.some((line) => line.msg === "request failed"));
});

test("a port in use is refused with a message saying what to do", async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const { port } = blocker.address() as net.AddressInfo;
  const { log } = captureLog();
  await t.throwsAsync(serveHttp({ host: "127.0.0.1", port, log, routes: () => {} }), {
    message: `127.0.0.1:${port} is already in use: stop what listens there, or choose another port`,
  });
});

test("url names a reachable address when bound to every interface", async (t) => {
  const { server } = await serve(t, () => {}, { host: "0.0.0.0" });
  t.is(server.url, `http://127.0.0.1:${server.port}`);
  t.is((await request(server, "/healthz")).status, 200);
});

test("close lets a request in progress finish, tells its keep-alive client to go, and does not wait out the grace period", async (t) => {
  let started!: () => void;
  const inside = new Promise<void>((resolve) => (started = resolve));
  const { server } = await serve(t, (app) => {
    app.get("/slow", async (_req, res) => {
      started();
      await new Promise((resolve) => setTimeout(resolve, 200));
      res.send("finished");
    });
  });
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const pending = request(server, "/slow", { agent });
  await inside;
  const closing = Date.now();
  const closed = server.close(10_000);
  const answer = await pending;
  t.is(answer.status, 200);
  t.is(answer.body, "finished");
  t.is(answer.headers.connection, "close");
  await closed;
  t.true(Date.now() - closing < 3_000, `closed in ${Date.now() - closing} ms, not after the 10 s grace`);
  await t.throwsAsync(request(server, "/healthz"), { code: "ECONNREFUSED" });
});

test("close cuts a request still running when the grace period is over", async (t) => {
  let started!: () => void;
  const inside = new Promise<void>((resolve) => (started = resolve));
  const { server } = await serve(t, (app) => {
    app.get("/stuck", () => {
      started();
      // Never answers.
    });
  });
  const pending = request(server, "/stuck");
  await inside;
  const closing = Date.now();
  await server.close(200);
  const elapsed = Date.now() - closing;
  t.true(elapsed >= 150 && elapsed < 3_000, `closed after ${elapsed} ms`);
  await t.throwsAsync(pending);
});
