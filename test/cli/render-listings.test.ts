import test from "ava";
import type { App, Deploy, Host } from "../../shared/api-types.ts";
import { renderHistory, renderHosts, renderStatus } from "../../cli/render-listings.ts";

const now = Date.parse("2026-11-22T12:10:00.000Z");
const sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

function deploy(overrides: Partial<Deploy>): Deploy {
  return {
    id: 17,
    uid: "6f1c2d3e-4b5a-4c6d-8e7f-901234567890",
    app: "shop",
    environment: "production",
    number: 42,
    action: "deploy",
    ref: "v2.3.1",
    sha,
    previousSha: null,
    rollbackOf: null,
    actor: "alice",
    forced: false,
    requestedHosts: null,
    state: "succeeded",
    message: null,
    createdAt: "2026-11-22T12:00:00.000Z",
    startedAt: "2026-11-22T12:00:00.000Z",
    finishedAt: "2026-11-22T12:01:02.000Z",
    ...overrides,
  };
}

test("status: a row per host, then what is running, queued and locked", (t) => {
  const apps: App[] = [
    {
      name: "shop",
      url: "git@example.com:shop.git",
      environments: [
        {
          name: "production",
          lock: { app: "shop", environment: "production", actor: "bob", reason: "black friday", createdAt: "2026-11-22T11:00:00.000Z", expiresAt: "2026-11-30T00:00:00.000Z" },
          running: deploy({ id: 18, number: 43, ref: "v2.3.2", state: "running", startedAt: "2026-11-22T12:09:23.000Z", finishedAt: null }),
          queued: 2,
          current: { ref: "v2.3.1", sha, deployId: 17 },
          hosts: [
            { host: "web-1", alive: true, release: "20261122T120001-1a2b3c4d", ref: "v2.3.1", sha, health: "ok" },
            { host: "web-2", alive: false, release: null, ref: null, sha: null, health: null },
          ],
        },
        { name: "staging", lock: null, running: null, queued: 0, current: null, hosts: [] },
      ],
    },
  ];
  t.deepEqual(renderStatus(apps, { now, utc: true }), [
    "APP   ENV         HOST   RELEASE                   REF     SHA       HEALTH  ALIVE",
    "shop  production  web-1  20261122T120001-1a2b3c4d  v2.3.1  1a2b3c4d  ok      alive",
    "shop  production  web-2  -                         -       -         -       missing",
    "shop  staging     -      -                         -       -         -       -",
    "",
    "running  shop → production  #43 v2.3.2 (1a2b3c4d), deploy 18 by alice, 0:37",
    "queued   shop → production  2 deploys waiting",
    "locked   shop → production  by bob until 2026-11-30 00:00: black friday",
  ]);
  t.deepEqual(renderStatus([], { now }), ["no apps: the conductor reads them from its appsDir (see docs/conductor.md)"]);
});

test("history: id, app/env #number, action, ref, sha, actor, state, start and duration", (t) => {
  const lines = renderHistory(
    [
      deploy({ id: 19, number: 44, state: "queued", position: 1, startedAt: null, finishedAt: null, createdAt: "2026-11-22T12:09:00.000Z" }),
      deploy({ id: 18, number: 43, action: "rollback", ref: "v2.3.0", state: "running", startedAt: "2026-11-22T12:09:23.000Z", finishedAt: null }),
      deploy({ id: 7, environment: "staging", number: 3, state: "failed", forced: true }),
    ],
    { now, utc: true },
  );
  t.deepEqual(lines, [
    "ID  DEPLOY               ACTION    REF     SHA       ACTOR  STATE            STARTED           DURATION",
    "19  shop/production #44  deploy    v2.3.1  1a2b3c4d  alice  queued (1)       2026-11-22 12:09         -",
    "18  shop/production #43  rollback  v2.3.0  1a2b3c4d  alice  running          2026-11-22 12:09     37.0s",
    " 7  shop/staging #3      deploy    v2.3.1  1a2b3c4d  alice  failed (forced)  2026-11-22 12:00      1:02",
  ]);
  t.deepEqual(renderHistory([], { now }), ["no deploys match"]);
});

test("hosts: sorted by name, alive or missing, seen how long ago, the apps they run", (t) => {
  const host = (overrides: Partial<Host>): Host => ({
    host: "web-1",
    alive: true,
    firstSeen: "2026-11-01T00:00:00.000Z",
    lastSeen: "2026-11-22T12:09:48.000Z",
    event: "alive",
    facts: {},
    classes: [],
    apps: {},
    agentVersion: "0.1.0",
    ...overrides,
  });
  const lines = renderHosts(
    [
      host({ host: "web-2", alive: false, event: "shutdown", lastSeen: "2026-11-22T09:00:00.000Z", apps: { shop: { release: null, sha: null, health: "unknown" } } }),
      host({ apps: { shop: { release: "20261122T120001-1a2b3c4d", sha, health: "ok" }, blog: { release: null, sha, health: "failing" } } }),
    ],
    { now },
  );
  t.deepEqual(lines, [
    "HOST   STATE                LAST SEEN  APPS                                                    AGENT",
    "web-1  alive                12s ago    shop 20261122T120001-1a2b3c4d, blog 1a2b3c4d (failing)  0.1.0",
    "web-2  missing (shut down)  3h ago     shop                                                    0.1.0",
  ]);
});
