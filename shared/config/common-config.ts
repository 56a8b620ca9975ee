import { defineConfig } from "./config-schema.ts";

export const busConfig = defineConfig({
  url: {
    doc: "Broker URL, or a comma-separated failover set: stomp://, stomp+ssl://, amqp://, amqps://, memory://",
    format: "string",
    default: "stomp://127.0.0.1:61613",
    sensitive: true,
  },
  login: { doc: "Broker user, when not given in the URL", format: "string", default: "", nullable: false },
  passcode: { doc: "Broker password, when not given in the URL", format: "string", default: "", sensitive: true },
  prefix: { doc: "Prefix of every topic name: git.commits becomes PREFIX.git.commits", format: "string", default: "deploykit" },
  host: { doc: "Name this host gives in the source of every message (default: the host name)", format: "string", default: "" },
  heartbeat: { doc: "STOMP heart-beat / AMQP heartbeat period", format: "duration", default: 10_000 },
  connectTimeout: { doc: "Give up one connection attempt (and a receipt wait) after this long", format: "duration", default: 10_000 },
  reconnectMin: { doc: "First delay before reconnecting; doubles per failed attempt, with jitter", format: "duration", default: 500 },
  reconnectMax: { doc: "Longest delay between reconnection attempts", format: "duration", default: 30_000 },
  publishTimeout: { doc: "How long a publish waits for a connection before it fails loudly", format: "duration", default: 30_000 },
  confirm: { doc: "Wait for the broker's receipt/confirm on every publish", format: "boolean", default: true },
  handlerTimeout: { doc: "Longest a message handler may run before it counts as failed", format: "duration", default: 60_000 },
  prefetch: { doc: "Messages the broker may send a subscription ahead of acknowledgements", format: "nat", default: 100 },
  groupMaxLength: { doc: "Most messages kept for a group while none of its members is connected", format: "nat", default: 10_000 },
  groupExpiry: { doc: "A group queue unused this long is deleted by the broker", format: "duration", default: 7 * 86_400_000 },
  drainTimeout: { doc: "On stop, how long in-flight message handlers may finish before the daemon exits", format: "duration", default: 10_000 },
  tlsCa: { doc: "CA certificate file for stomp+ssl:// and amqps:// (default: system CAs)", format: "string", default: "" },
  tlsInsecure: { doc: "Accept any broker certificate (testing only)", format: "boolean", default: false },
});

export const logConfig = defineConfig({
  level: { doc: "Log level", format: ["fatal", "error", "warn", "info", "debug", "trace", "silent"], default: "info" },
  format: { doc: "json, pretty, or auto (pretty on a terminal, JSON otherwise)", format: ["auto", "json", "pretty"], default: "auto" },
});

export const dataConfig = defineConfig({
  dir: {
    doc: "Where daemons keep their state: ledger, keys, mirrors, releases (`deploykit up` uses --data-dir)",
    format: "string",
    default: "/var/lib/deploykit",
  },
});

// Where `deploykit publish` and the hooks keep messages the bus could not take,
// until a later publish or `deploykit spool flush` delivers them.
export const spoolConfig = defineConfig({
  dir: {
    doc: "Directory for messages that could not be published (one JSON file each); empty: fail instead of spooling",
    format: "string",
    default: "/var/spool/deploykit",
  },
  maxFiles: { doc: "Refuse to spool beyond this many messages", format: "nat", default: 10_000 },
  maxBytes: { doc: "Refuse to spool beyond this many bytes in the spool directory", format: "nat", default: 100 * 1024 * 1024 },
});

// The git and svn hooks (hooks/, `deploykit hook ...`).
export const hooksConfig = defineConfig({
  repoRoots: {
    doc: "Repository roots: a hooked repository is named by its path below the first root that holds it, without .git (else by its directory name); `git config deploykit.repo` wins",
    format: "string-list",
    default: ["/srv/git", "/srv/svn"],
  },
  maxCommits: { doc: "Most commits listed in one git.commits message (the newest are kept)", format: "nat", default: 100 },
  publishTimeout: {
    doc: "How long a hook waits for the bus before it spools its messages; a push never waits much longer",
    format: "duration",
    default: 5_000,
  },
});
