import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { ApiClient, apiOptions, defaultServer } from "../../cli/api-client.ts";
import { ApiError } from "../../cli/api-error.ts";
import { CliError } from "../../cli/cli-error.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// The error mapping, against a real HTTP server that answers with the error
// bodies docs/conductor-api.md documents. It stands in for the conductor in
// nothing else: the commands' end-to-end tests run against the real one.

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

async function serve(t: ExecutionContext, handler: Handler): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function answer(status: number, code: string, message: string): Handler {
  return (_request, response) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { code, message } }));
  };
}

const documented: [status: number, code: string, exitCode: number][] = [
  [400, "invalid-request", 65],
  [400, "invalid-ref", 65],
  [401, "unauthenticated", 77],
  [403, "forbidden", 77],
  [404, "not-found", 66],
  [409, "locked", 75],
  [409, "not-running", 65],
  [409, "nothing-to-roll-back", 65],
  [422, "unknown-ref", 65],
  [422, "ci-gate", 65],
  [422, "no-hosts", 65],
  [500, "internal", 70],
  [503, "repository-unavailable", 75],
  // Codes a newer conductor may add fall back on the status.
  [409, "busy", 75],
  [422, "something-new", 65],
  [404, "gone", 66],
  [503, "draining", 75],
];

for (const [status, code, exitCode] of documented) {
  test(`${status} ${code} becomes exit status ${exitCode} with the conductor's message`, async (t) => {
    const message = `the conductor says ${code}`;
    const server = await serve(t, answer(status, code, message));
    const error = await t.throwsAsync(new ApiClient({ server, token: "t" }).createDeploy({ app: "shop", environment: "production", ref: "v1" }), {
      instanceOf: ApiError,
    });
    t.is(error?.exitCode, exitCode);
    t.is(error?.status, status);
    t.is(error?.code, code);
    t.true(error?.message.startsWith(message), error?.message);
    t.true(error?.message.endsWith(`(${code})`), error?.message);
  });
}

test("a refused token is told where tokens come from; a forbidden one gets the conductor's word alone", async (t) => {
  const unauthenticated = await serve(t, answer(401, "unauthenticated", "no token"));
  const a = await t.throwsAsync(new ApiClient({ server: unauthenticated }).hosts());
  t.regex(a?.message ?? "", /--token, DEPLOYKIT_TOKEN, --token-file or DEPLOYKIT_TOKEN_FILE.*admin\.token/);
  const forbidden = await serve(t, answer(403, "forbidden", "vera is a viewer; this needs admin"));
  const b = await t.throwsAsync(new ApiClient({ server: forbidden, token: "v" }).lock("shop", "production", { reason: "x" }));
  t.is(b?.message, "vera is a viewer; this needs admin (forbidden)");
});

test("the token goes as a bearer, names are escaped in the path, empty query values are left out", async (t) => {
  let seen: IncomingMessage | undefined;
  const server = await serve(t, (request, response) => {
    seen = request;
    answer(404, "not-found", "no such environment")(request, response);
  });
  await t.throwsAsync(new ApiClient({ server: `${server}/`, token: "s3cret" }).unlock("shop", "pro duction"));
  t.is(seen?.headers.authorization, "Bearer s3cret");
  t.is(seen?.method, "DELETE");
  t.is(seen?.url, "/api/v1/apps/shop/environments/pro%20duction/lock");
  await t.throwsAsync(new ApiClient({ server }).deploys({ app: "shop", environment: undefined, limit: 5 }));
  t.is(seen?.url, "/api/v1/deploys?app=shop&limit=5");
  t.is(seen?.headers.authorization, undefined);
});

test("a proxy's HTML error page is not taken for the conductor's answer", async (t) => {
  const server = await serve(t, (_request, response) => {
    response.writeHead(502, { "content-type": "text/html" });
    response.end("<html><body><h1>502 Bad Gateway</h1></body></html>");
  });
  const error = await t.throwsAsync(new ApiClient({ server }).apps(), { instanceOf: CliError });
  t.is(error?.exitCode, 69);
  t.regex(error?.message ?? "", /answered 502 Bad Gateway: <html>.*is --server the conductor's address\?/);
});

test("a 200 that is not JSON, and a stream that is not an event stream, are protocol errors", async (t) => {
  const server = await serve(t, (_request, response) => {
    response.writeHead(200, { "content-type": "text/html" });
    response.end("<html>a web page</html>");
  });
  const client = new ApiClient({ server });
  t.is((await t.throwsAsync(client.hosts(), { instanceOf: CliError }))?.exitCode, 76);
  const stream = await t.throwsAsync(client.stream(17), { instanceOf: CliError });
  t.is(stream?.exitCode, 76);
  t.regex(stream?.message ?? "", /"text\/html", not text\/event-stream/);
});

test("a conductor that is not running: exit 69, the address, and how to start it", async (t) => {
  const server = await serve(t, () => {});
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const down = `http://127.0.0.1:${port}`;
  const error = await t.throwsAsync(new ApiClient({ server: down }).deploy(17), { instanceOf: CliError });
  t.is(error?.exitCode, 69);
  t.regex(error?.message ?? "", new RegExp(`^cannot reach the conductor at ${down}: .*ECONNREFUSED.*; start it with \`deploykit up\` or set --server`));
  // One that accepts the connection and never answers is as unreachable.
  const silent = await t.throwsAsync(new ApiClient({ server, timeoutMs: 200 }).deploy(17), { instanceOf: CliError });
  t.is(silent?.exitCode, 69);
  t.regex(silent?.message ?? "", /no answer within 200ms/);
});

test("server: the flag, then DEPLOYKIT_SERVER, then the default; a bare host:port gets http://", (t) => {
  const home = tempDir(t, "dk-api-");
  t.is(apiOptions({}, {}, home).server, defaultServer);
  t.is(apiOptions({}, { DEPLOYKIT_SERVER: "conductor.example:8470/" }, home).server, "http://conductor.example:8470");
  t.is(apiOptions({ server: "https://deploy.example/" }, { DEPLOYKIT_SERVER: "http://other" }, home).server, "https://deploy.example");
  t.is(t.throws(() => apiOptions({ server: "ftp://x" }, {}, home))?.message, '--server "ftp://x" must be an http:// or https:// URL');
});

test("token: --token, DEPLOYKIT_TOKEN, --token-file, DEPLOYKIT_TOKEN_FILE, then the admin token deploykit up wrote", (t) => {
  const dir = tempDir(t, "dk-api-");
  const write = (where: string, text: string) => {
    mkdirSync(path.dirname(where), { recursive: true });
    writeFileSync(where, text);
    return where;
  };
  const home = path.join(dir, "home");
  const dataDir = path.join(dir, "data");
  const flagFile = write(path.join(dir, "flag.token"), "from-flag-file\n");
  const envFile = write(path.join(dir, "env.token"), "  from-env-file  \n");
  t.is(apiOptions({}, {}, home).token, undefined, "no token anywhere: requests go without one");
  write(path.join(home, ".deploykit", "admin.token"), "from-home\n");
  t.is(apiOptions({}, {}, home).token, "from-home");
  write(path.join(dataDir, "admin.token"), "from-data-dir\n");
  t.is(apiOptions({}, { DEPLOYKIT_DATA_DIR: dataDir }, home).token, "from-data-dir");
  t.is(apiOptions({}, { DEPLOYKIT_DATA_DIR: dataDir, DEPLOYKIT_TOKEN_FILE: envFile }, home).token, "from-env-file");
  t.is(apiOptions({ "token-file": flagFile }, { DEPLOYKIT_TOKEN_FILE: envFile }, home).token, "from-flag-file");
  t.is(apiOptions({ "token-file": flagFile }, { DEPLOYKIT_TOKEN: "from-env" }, home).token, "from-env");
  t.is(apiOptions({ token: "from-flag" }, { DEPLOYKIT_TOKEN: "from-env" }, home).token, "from-flag");
});

test("a token file that is named but missing or empty is an error, not a silent anonymous request", (t) => {
  const dir = tempDir(t, "dk-api-");
  const missing = t.throws(() => apiOptions({ "token-file": path.join(dir, "nope") }, {}, dir), { instanceOf: CliError });
  t.is(missing?.exitCode, 66);
  t.regex(missing?.message ?? "", /^cannot read the token file .*nope: ENOENT.*--token-file/);
  writeFileSync(path.join(dir, "empty"), "\n");
  t.is(t.throws(() => apiOptions({}, { DEPLOYKIT_TOKEN_FILE: path.join(dir, "empty") }, dir), { instanceOf: CliError })?.exitCode, 66);
});
