export * from "./envelope.ts";
export * from "./fields.ts";
export * from "./topics.ts";
export * from "./types.ts";
