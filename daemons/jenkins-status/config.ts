import { defineConfig } from "../../shared/config/config-schema.ts";

export const jenkinsStatusConfig = defineConfig({
  host: { doc: "Address the notification endpoint listens on", format: "string", default: "127.0.0.1" },
  port: { doc: "Port of POST /jenkins/notify, /metrics and /healthz (0 picks a free one)", format: "port", default: 8711 },
  token: {
    doc: "Shared token Jenkins must present (Authorization: Bearer, basic auth password, or ?token=); empty accepts loopback clients only",
    format: "string",
    default: "",
    sensitive: true,
  },
  maxBody: { doc: "Largest notification accepted, in bytes (the plugin can include log lines)", format: "nat", default: 1_048_576 },
  publishTimeout: {
    doc: "How long a notification waits for the bus before it is answered 503",
    format: "duration",
    default: 10_000,
  },
  jenkinsUrl: {
    doc: "Jenkins' root URL, to make build URLs absolute when Jenkins has no root URL configured (build.full_url missing)",
    format: "string",
    default: "",
  },
});

export type JenkinsStatusConfig = {
  host: string;
  port: number;
  token: string;
  maxBody: number;
  publishTimeout: number;
  jenkinsUrl: string;
};
