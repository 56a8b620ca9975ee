import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import YAML from "yaml";
import { TokenFileError, createToken, ensureAdminToken, readTokens, requireRole, roleAllows, roles } from "../../../daemons/conductor/api-tokens.ts";
import { serveHttp } from "../../../shared/http/serve-http.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const mode = (path: string) => statSync(path).mode & 0o777;

test("a created token is dk_ and 32 random bytes; the file keeps its sha256, never the token", (t) => {
  const file = join(tempDir(t, "dk-tokens-"), "conductor", "tokens.yaml");
  const token = createToken(file, { name: "alice", role: "deployer" });
  t.regex(token, /^dk_[A-Za-z0-9_-]{43}$/);
  t.is(Buffer.from(token.slice(3), "base64url").length, 32);
  t.not(createToken(file, { name: "bob", role: "viewer" }), token);

  const text = readFileSync(file, "utf8");
  t.false(text.includes(token.slice(3)), "the token itself is not stored");
  const stored = YAML.parse(text) as { tokens: { name: string; role: string; hash: string; created: string }[] };
  t.deepEqual(
    stored.tokens.map(({ name, role }) => ({ name, role })),
    [
      { name: "alice", role: "deployer" },
      { name: "bob", role: "viewer" },
    ],
  );
  t.is(stored.tokens[0]?.hash, `sha256:${createHash("sha256").update(token).digest("hex")}`);
  t.false(Number.isNaN(Date.parse(stored.tokens[0]?.created ?? "")));
});

test("the tokens file is 0600 and a directory it needs is made 0700", (t) => {
  const dir = tempDir(t, "dk-tokens-");
  const file = join(dir, "etc", "conductor", "tokens.yaml");
  createToken(file, { name: "alice", role: "admin" });
  t.is(mode(file), 0o600);
  t.is(mode(join(dir, "etc", "conductor")), 0o700);
  t.is(mode(join(dir, "etc")), 0o700);

  // A file someone left readable is tightened when a token is added.
  const loose = join(dir, "loose.yaml");
  writeFileSync(loose, "tokens: []\n", { mode: 0o644 });
  createToken(loose, { name: "alice", role: "viewer" });
  t.is(mode(loose), 0o600);
});

test("verify: the right token gives its name and role; anything else gives nothing", (t) => {
  const file = join(tempDir(t, "dk-tokens-"), "tokens.yaml");
  const alice = createToken(file, { name: "alice", role: "deployer" });
  const carol = createToken(file, { name: "carol", role: "admin" });
  const store = readTokens(file);
  t.is(store.size, 2);
  t.deepEqual(store.verify(alice), { name: "alice", role: "deployer" });
  t.deepEqual(store.verify(carol), { name: "carol", role: "admin" });
  t.is(store.verify(`${alice}x`), undefined);
  t.is(store.verify(alice.slice(0, -1)), undefined);
  t.is(store.verify(""), undefined);
  t.is(store.verify(createHash("sha256").update(alice).digest("hex")), undefined, "the stored hash is no token");
  t.is(store.verify("x".repeat(100_000)), undefined);
  t.deepEqual(
    store.list().map(({ name, role }) => `${name}:${role}`),
    ["alice:deployer", "carol:admin"],
  );
});

test("roles: viewer < deployer < admin", (t) => {
  t.deepEqual([...roles], ["viewer", "deployer", "admin"]);
  const allowed = roles.flatMap((have) => roles.filter((need) => roleAllows(have, need)).map((need) => `${have}>=${need}`));
  t.deepEqual(allowed, ["viewer>=viewer", "deployer>=viewer", "deployer>=deployer", "admin>=viewer", "admin>=deployer", "admin>=admin"]);
});

test("a name is used once; a bad name or role is refused; nothing is written then", (t) => {
  const file = join(tempDir(t, "dk-tokens-"), "tokens.yaml");
  createToken(file, { name: "alice", role: "viewer" });
  const before = readFileSync(file, "utf8");
  const taken = t.throws(() => createToken(file, { name: "alice", role: "admin" }), { instanceOf: TokenFileError });
  t.is(taken?.reason, "name-taken");
  t.regex(taken?.message ?? "", /a token named alice is in .*tokens\.yaml already/);
  t.is(t.throws(() => createToken(file, { name: "Alice Smith", role: "admin" }), { instanceOf: TokenFileError })?.reason, "bad-input");
  t.is(t.throws(() => createToken(file, { name: "-x", role: "admin" }), { instanceOf: TokenFileError })?.reason, "bad-input");
  t.is(t.throws(() => createToken(file, { name: "bob", role: "root" as "admin" }), { instanceOf: TokenFileError })?.reason, "bad-input");
  t.is(readFileSync(file, "utf8"), before);
});

test("comments and entries an operator wrote survive an added token", (t) => {
  const file = join(tempDir(t, "dk-tokens-"), "tokens.yaml");
  const hash = `sha256:${"ab".repeat(32)}`;
  writeFileSync(file, `# managed by hand\ntokens:\n  # the CI robot\n  - name: ci\n    role: deployer\n    hash: "${hash}"\n    created: "2026-01-02T03:04:05.000Z"\n`);
  createToken(file, { name: "alice", role: "viewer" });
  const text = readFileSync(file, "utf8");
  t.true(text.startsWith("# managed by hand\n"));
  t.true(text.includes("# the CI robot"));
  t.deepEqual(
    readTokens(file)
      .list()
      .map((entry) => entry.name),
    ["ci", "alice"],
  );
});

test("a missing file is no tokens; an empty one too; a bad one names the file and the entry", (t) => {
  const dir = tempDir(t, "dk-tokens-");
  t.is(readTokens(join(dir, "missing.yaml")).size, 0);
  writeFileSync(join(dir, "empty.yaml"), "");
  t.is(readTokens(join(dir, "empty.yaml")).size, 0);
  const good = `hash: "sha256:${"0".repeat(64)}"\n    created: "2026-01-02T03:04:05Z"`;
  const cases: [string, RegExp][] = [
    ["tokens: [\n", /is not valid YAML/],
    ["- name: alice\n", /must hold one key, tokens/],
    [`tokens:\n  - name: alice\n    role: root\n    ${good}`, /entry 1 \(alice\): role: /],
    [`tokens:\n  - name: alice\n    role: admin\n    hash: "dk_plaintoken"\n    created: "2026-01-02T03:04:05Z"`, /entry 1 \(alice\): hash: must be sha256:<64 lowercase hex digits>/],
    [`tokens:\n  - name: alice\n    role: admin\n    ${good}\n  - name: alice\n    role: viewer\n    ${good}`, /entry 2 \(alice\): the name alice is used twice/],
    [`tokens:\n  - name: alice\n    role: admin\n    ${good}\n  - role: viewer\n    ${good}`, /entry 2: name: /],
    [`tokens:\n  - name: alice\n    role: admin\n    ${good}\n    password: x`, /entry 1 \(alice\): .*password/],
  ];
  for (const [text, message] of cases) {
    const file = join(dir, "tokens.yaml");
    writeFileSync(file, text);
    const error = t.throws(() => readTokens(file), { instanceOf: TokenFileError }, text);
    t.is(error?.reason, "bad-file");
    t.regex(error?.message ?? "", message, text);
    t.true(error?.message.includes(file), "names the file");
    // A broken file is never rewritten over: the operator fixes it first.
    t.throws(() => createToken(file, { name: "zed", role: "viewer" }), { instanceOf: TokenFileError });
    t.is(readFileSync(file, "utf8"), text);
  }
});

test("ensureAdminToken makes one admin and writes it 0600 for the operator; a second call does nothing", (t) => {
  const dir = tempDir(t, "dk-tokens-");
  const file = join(dir, "conductor", "tokens.yaml");
  const plain = join(dir, "data", "admin-token");
  const first = ensureAdminToken(file, plain);
  t.deepEqual(first, { created: true, tokenFile: plain });
  t.is(mode(plain), 0o600);
  const token = readFileSync(plain, "utf8").trim();
  t.deepEqual(readTokens(file).verify(token), { name: "admin", role: "admin" });

  t.deepEqual(ensureAdminToken(file, plain), { created: false, tokenFile: plain });
  t.is(readTokens(file).size, 1);
  t.is(readFileSync(plain, "utf8").trim(), token, "the plain file is left as it was");
});

test("ensureAdminToken: a non-admin named admin does not count, and keeps its name", (t) => {
  const dir = tempDir(t, "dk-tokens-");
  const file = join(dir, "tokens.yaml");
  createToken(file, { name: "admin", role: "viewer" });
  t.true(ensureAdminToken(file, join(dir, "admin-token")).created);
  const token = readFileSync(join(dir, "admin-token"), "utf8").trim();
  t.deepEqual(readTokens(file).verify(token), { name: "admin-2", role: "admin" });
  t.false(ensureAdminToken(file, join(dir, "admin-token")).created);
});

test("requireRole on a real server: 401 without or with an unknown token, 403 below the role, 200 with actor and role", async (t) => {
  const dir = tempDir(t, "dk-tokens-");
  const file = join(dir, "tokens.yaml");
  const viewer = createToken(file, { name: "victor", role: "viewer" });
  const deployer = createToken(file, { name: "dana", role: "deployer" });
  const admin = createToken(file, { name: "ada", role: "admin" });
  const store = readTokens(file);
  const server = await serveHttp({
    host: "127.0.0.1",
    port: 0,
    log: captureLog().log,
    routes: (app) => {
      app.get("/read", requireRole(store, "viewer"), (_request, response) => void response.json({ actor: response.locals.actor, role: response.locals.role }));
      app.post("/deploy", requireRole(() => store, "deployer"), (_request, response) => void response.json({ actor: response.locals.actor, role: response.locals.role }));
      app.put("/lock", requireRole(store, "admin"), (_request, response) => void response.json({ actor: response.locals.actor }));
    },
  });
  t.teardown(() => server.close(0));
  const call = async (method: string, path: string, authorization?: string) => {
    const response = await fetch(`${server.url}${path}`, { method, headers: authorization === undefined ? {} : { authorization } });
    return { status: response.status, challenge: response.headers.get("www-authenticate"), body: (await response.json()) as Record<string, unknown> };
  };

  const none = await call("GET", "/read");
  t.is(none.status, 401);
  t.is(none.challenge, 'Bearer realm="deploykit"');
  t.deepEqual(Object.keys(none.body), ["error"]);
  t.is((none.body.error as { code: string }).code, "unauthenticated");
  t.regex((none.body.error as { message: string }).message, /Authorization: Bearer/);

  const unknown = await call("GET", "/read", "Bearer dk_not-a-real-token");
  t.is(unknown.status, 401);
  t.is(unknown.challenge, 'Bearer realm="deploykit", error="invalid_token"');
  t.is((unknown.body.error as { code: string }).code, "unauthenticated");

  for (const malformed of [`Basic ${viewer}`, viewer, "Bearer", `Bearer ${viewer} extra`]) {
    const response = await call("GET", "/read", malformed);
    t.is(response.status, 401, malformed);
  }

  t.deepEqual(await call("POST", "/deploy", `Bearer ${viewer}`), {
    status: 403,
    challenge: null,
    body: { error: { code: "forbidden", message: "victor is a viewer; this needs deployer" } },
  });
  t.deepEqual((await call("PUT", "/lock", `Bearer ${deployer}`)).body, { error: { code: "forbidden", message: "dana is a deployer; this needs admin" } });

  t.deepEqual(await call("GET", "/read", `Bearer ${viewer}`), { status: 200, challenge: null, body: { actor: "victor", role: "viewer" } });
  t.deepEqual((await call("GET", "/read", `bearer ${admin}`)).body, { actor: "ada", role: "admin" }, "the scheme is case-insensitive");
  t.deepEqual((await call("POST", "/deploy", `Bearer ${deployer}`)).body, { actor: "dana", role: "deployer" });
  t.deepEqual((await call("POST", "/deploy", `Bearer ${admin}`)).body, { actor: "ada", role: "admin" });
  t.deepEqual((await call("PUT", "/lock", `Bearer ${admin}`)).body, { actor: "ada" });
});
