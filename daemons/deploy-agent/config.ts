import { defineConfig } from "../../shared/config/config-schema.ts";

export const deployAgentConfig = defineConfig({
  identity: { doc: "This host's name in deploy targets and messages (empty: the host's FQDN)", format: "string", default: "" },
  appsDir: {
    doc: "The apps this host deploys: one <app>.yaml per app (see docs/deploy-agent.md)",
    format: "string",
    default: "/etc/deploykit/apps.d",
  },
  trustedKeys: {
    doc: "Ed25519 public keys (PEM files, or directories of *.pub) whose signed deploy requests this host obeys",
    format: "string-list",
    default: ["/etc/deploykit/trusted-keys"],
  },
  stateDir: {
    doc: "The agent's own files: app locks, seen request nonces, its fallback git mirrors",
    format: "string",
    default: "/var/lib/deploykit/agent",
  },
  mirrorDir: {
    doc: "Where repo-fetcher keeps its mirrors (an app's repo owner/name is <mirrorDir>/owner/name.git)",
    format: "string",
    default: "/var/lib/deploykit/mirrors",
  },
  factsFile: { doc: "Facts about this host, YAML or JSON (e.g. written by Puppet); empty: none", format: "string", default: "/etc/deploykit/facts.yaml" },
  facter: { doc: "Also read facts from `facter --json` when facter is installed", format: "boolean", default: true },
  classesFile: {
    doc: "Puppet's list of classes applied to this host, one per line; empty: none",
    format: "string",
    default: "/var/lib/puppet/state/classes.txt",
  },
  classes: { doc: "Classes of this host in addition to the classes file's", format: "string-list", default: [] },
  aliveInterval: { doc: "Publish hosts.alive this often (the first after a random part of it)", format: "duration", default: 60_000 },
  maxTtl: { doc: "Longest time-to-live honoured in a deploy request, whatever the request says", format: "duration", default: 300_000 },
  clockSkew: { doc: "How far the signer's clock may be off from this host's", format: "duration", default: 30_000 },
  stepTimeout: { doc: "Default limit for one step (an app's timeout overrides it)", format: "duration", default: 600_000 },
  inactivityTimeout: { doc: "Default limit for a step that prints nothing (an app's inactivityTimeout overrides it)", format: "duration", default: 300_000 },
  minFreeMegabytes: { doc: "Preflight refuses a deploy when the app's root has less free space than this", format: "nat", default: 100 },
  maxArtifactMegabytes: { doc: "Largest artifact download accepted", format: "nat", default: 2048 },
});

export type DeployAgentConfig = {
  identity: string;
  appsDir: string;
  trustedKeys: string[];
  stateDir: string;
  mirrorDir: string;
  factsFile: string;
  facter: boolean;
  classesFile: string;
  classes: string[];
  aliveInterval: number;
  maxTtl: number;
  clockSkew: number;
  stepTimeout: number;
  inactivityTimeout: number;
  minFreeMegabytes: number;
  maxArtifactMegabytes: number;
};
