import { randomUUID } from "node:crypto";
import type { z } from "zod";
import { type Envelope, envelopeSchema, type Source, topicDef } from "../messages/index.ts";
import { InvalidMessageError } from "./bus.ts";

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}

/** Envelope fields a re-sent message keeps from when it was first built (see PublishOptions.envelope). */
const correlationIdSchema = envelopeSchema.shape.correlationId;

export type KeptFields = Pick<Envelope, "id" | "time" | "source">;

/**
 * Builds a valid envelope for `topic` or throws InvalidMessageError naming the
 * bad fields. `kept` re-creates an envelope built earlier (same id, time and
 * source); those fields are checked like a received envelope's.
 */
export function makeEnvelope(topic: string, body: unknown, source: Source, correlationId?: string, kept?: KeptFields): Envelope {
  const def = topicDef(topic);
  if (!def) throw new InvalidMessageError(`unknown topic "${topic}"`);
  const parsed = def.body.safeParse(body);
  if (!parsed.success) throw new InvalidMessageError(`invalid ${def.type} body: ${describeIssues(parsed.error)}`);
  // Checked here, or every receiver would dead-letter the message for it.
  if (correlationId !== undefined && !correlationIdSchema.safeParse(correlationId).success) {
    throw new InvalidMessageError(`invalid correlationId "${correlationId.slice(0, 60)}": must be a UUID`);
  }
  const id = kept?.id ?? randomUUID();
  const envelope = {
    type: def.type,
    id,
    time: kept?.time ?? new Date().toISOString(),
    source: kept?.source ?? source,
    correlationId: correlationId ?? id,
    body: parsed.data,
  };
  if (kept) {
    const checked = envelopeSchema.safeParse(envelope);
    if (!checked.success) throw new InvalidMessageError(`invalid envelope: ${describeIssues(checked.error)}`);
  }
  return envelope;
}

export type Decoded = { ok: true; envelope: Envelope } | { ok: false; reason: string };

/** Turns a raw message received on `topic` into a checked envelope, or says exactly why not. */
export function decodeEnvelope(topic: string, raw: string): Decoded {
  const def = topicDef(topic);
  if (!def) return { ok: false, reason: `unknown topic "${topic}"` };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { ok: false, reason: `body is not JSON: ${(err as Error).message}` };
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success) return { ok: false, reason: `invalid envelope: ${describeIssues(envelope.error)}` };
  if (envelope.data.type !== def.type) {
    return { ok: false, reason: `type "${envelope.data.type}" does not belong on topic "${topic}" (expected "${def.type}")` };
  }
  const body = def.body.safeParse(envelope.data.body);
  if (!body.success) return { ok: false, reason: `invalid ${def.type} body: ${describeIssues(body.error)}` };
  return { ok: true, envelope: { ...envelope.data, body: body.data } };
}
