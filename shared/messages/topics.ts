import type { z } from "zod";
import * as t from "./types.ts";

// The one map from logical topic to message type and body schema.
export const topics = {
  "git.commits": { type: "git.commits.v1", body: t.gitCommitsV1 },
  builds: { type: "builds.v1", body: t.buildsV1 },
  "repos.fetched": { type: "repos.fetched.v1", body: t.reposFetchedV1 },
  "packages.updates": { type: "packages.updates.v1", body: t.packagesUpdatesV1 },
  "packages.available": { type: "packages.available.v1", body: t.packagesAvailableV1 },
  "hosts.alive": { type: "hosts.alive.v1", body: t.hostsAliveV1 },
  "deploy.requests": { type: "deploy.requests.v1", body: t.deployRequestsV1 },
  "deploy.progress": { type: "deploy.progress.v1", body: t.deployProgressV1 },
  "deploy.results": { type: "deploy.results.v1", body: t.deployResultsV1 },
  "deploy.events": { type: "deploy.events.v1", body: t.deployEventsV1 },
  events: { type: "events.v1", body: t.eventsV1 },
  keepalive: { type: "keepalive.v1", body: t.keepaliveV1 },
  deadletter: { type: "deadletter.v1", body: t.deadletterV1 },
} as const;

export type Topic = keyof typeof topics;
export type BodyOf<T extends Topic> = z.output<(typeof topics)[T]["body"]>;
export type BodyInput<T extends Topic> = z.input<(typeof topics)[T]["body"]>;

export function isTopic(value: string): value is Topic {
  return Object.hasOwn(topics, value);
}

export function topicNames(): Topic[] {
  return Object.keys(topics) as Topic[];
}

// A keepalive may go to sub-topics (`keepalive.dmz`) so each network path can
// be probed on its own; they all carry keepalive.v1.
export type TopicName = Topic | `keepalive.${string}`;
export type DefOf<T extends TopicName> = T extends Topic ? (typeof topics)[T] : (typeof topics)["keepalive"];
export type BodyOfName<T extends TopicName> = z.output<DefOf<T>["body"]>;
export type BodyInputOfName<T extends TopicName> = z.input<DefOf<T>["body"]>;

const topicSegment = /^[a-z0-9][a-z0-9_-]*$/;

export function topicDef(name: string): (typeof topics)[Topic] | undefined {
  if (isTopic(name)) return topics[name];
  const [head, ...rest] = name.split(".");
  if (head === "keepalive" && rest.length > 0 && rest.every((s) => topicSegment.test(s))) return topics.keepalive;
  return undefined;
}
