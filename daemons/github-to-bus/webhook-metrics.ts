import { Counter, type Registry } from "prom-client";
import { type ProviderName, providerNames } from "./provider.ts";

/** Every way a delivery can end, one label value each. */
export const deliveryOutcomes = [
  "published",
  "duplicate",
  "ping",
  "ignored",
  "disabled",
  "unauthorized",
  "invalid",
  "forbidden",
  "too_large",
  "unavailable",
] as const;

export type DeliveryOutcome = (typeof deliveryOutcomes)[number];

export interface WebhookMetrics {
  count(provider: ProviderName, outcome: DeliveryOutcome): void;
}

export function webhookMetrics(registry: Registry): WebhookMetrics {
  const deliveries = new Counter({
    name: "deploykit_github_to_bus_deliveries_total",
    help: "Webhook deliveries by provider and outcome",
    labelNames: ["provider", "outcome"] as const,
    registers: [registry],
  });
  // Every series exists from the start, so rate() and alerts see a zero rather than nothing.
  for (const provider of providerNames) for (const outcome of deliveryOutcomes) deliveries.inc({ provider, outcome }, 0);
  return { count: (provider, outcome) => deliveries.inc({ provider, outcome }) };
}
