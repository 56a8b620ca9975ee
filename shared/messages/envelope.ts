import { z } from "zod";
import { isoTime } from "./fields.ts";

export const sourceSchema = z.object({
  component: z.string().min(1).max(100),
  host: z.string().min(1).max(253),
});

export const envelopeSchema = z.object({
  type: z.string().regex(/^[a-z][a-z0-9.-]*\.v[0-9]+$/, "must look like topic.v1"),
  id: z.uuid(),
  time: isoTime,
  source: sourceSchema,
  correlationId: z.uuid(),
  body: z.unknown(),
});

export type Source = z.infer<typeof sourceSchema>;

export interface Envelope<B = unknown> {
  type: string;
  id: string;
  time: string;
  source: Source;
  correlationId: string;
  body: B;
}
