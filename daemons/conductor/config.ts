import { defineConfig } from "../../shared/config/config-schema.ts";

export const conductorConfig = defineConfig({
  host: { doc: "Address the REST API and the web UI listen on", format: "string", default: "127.0.0.1" },
  port: { doc: "Port of the REST API, /metrics and /healthz (0 picks a free one)", format: "port", default: 8470 },
  appsDir: {
    doc: "The apps the conductor deploys: one <app>.yaml each with its repository, environments, targets and rollout (see docs/conductor.md)",
    format: "string",
    default: "/etc/deploykit/conductor/apps.d",
  },
  database: {
    doc: "The ledger: sqlite:/path/ledger.sqlite, postgres://user:pass@host/db or mysql://user:pass@host/db",
    format: "string",
    default: "sqlite:/var/lib/deploykit/ledger.sqlite",
    sensitive: true,
  },
  tokensFile: {
    doc: "API tokens, stored hashed, with their roles (`deploykit token create` adds one)",
    format: "string",
    default: "/etc/deploykit/conductor/tokens.yaml",
  },
  signingKey: {
    doc: "Ed25519 private key (PEM) that signs deploy requests; agents trust its public half",
    format: "string",
    default: "/etc/deploykit/keys/deploy-signing.key",
  },
  mirrorDir: { doc: "The conductor's own mirrors of each app's repository, to list and resolve refs", format: "string", default: "/var/lib/deploykit/conductor/mirrors" },
  fetchInterval: { doc: "Fetch every app's mirror this often (it is also fetched on pushes and before resolving an unknown ref)", format: "duration", default: 300_000 },
  fetchTimeout: { doc: "Longest one git fetch of a mirror may take", format: "duration", default: 300_000 },
  requestTtl: { doc: "Time-to-live of each signed deploy request", format: "duration", default: 60_000 },
  hostTimeout: { doc: "Default time a host has to answer a deploy request (an environment's rollout.hostTimeout overrides it)", format: "duration", default: 900_000 },
  hostExpiry: { doc: "A host not heard from for this long is missing: not targeted, shown as not alive", format: "duration", default: 180_000 },
  logLinesPerHost: { doc: "Most log lines kept per deploy and host (the rest are counted, not stored)", format: "nat", default: 20_000 },
  uiDir: {
    doc: "The web UI's built files, served at / (empty: the ones built with this installation; off: no web UI)",
    format: "string",
    default: "",
  },
});

export type ConductorConfig = {
  host: string;
  port: number;
  appsDir: string;
  database: string;
  tokensFile: string;
  signingKey: string;
  mirrorDir: string;
  fetchInterval: number;
  fetchTimeout: number;
  requestTtl: number;
  hostTimeout: number;
  hostExpiry: number;
  logLinesPerHost: number;
  uiDir: string;
};
