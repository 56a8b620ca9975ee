/** Counters the broker keeps; gauges are read from its state when scraped. */
export class BrokerMetrics {
  connectionsTotal = 0;
  connectionsRefused = 0;
  authFailures = 0;
  protocolErrors = 0;
  slowConsumers = 0;
  heartbeatTimeouts = 0;
  messagesIn = 0;
  messagesOut = 0;
  redelivered = 0;
  /** Dropped from a full queue (its oldest message) or with a slow consumer's queue. */
  dropped = 0;
  /** Published to a topic nobody subscribes to. */
  unroutable = 0;
}

export interface BrokerGauges {
  connections: number;
  subscriptions: number;
  topics: number;
  queues: { name: string; depth: number; consumers: number }[];
}

export type BrokerStats = Omit<BrokerMetrics, never> & BrokerGauges;

const counters: [keyof BrokerMetrics, string, string][] = [
  ["connectionsTotal", "deploykit_broker_connections_total", "Connections accepted"],
  ["connectionsRefused", "deploykit_broker_connections_refused_total", "Connections refused (limit, authentication, TLS)"],
  ["authFailures", "deploykit_broker_auth_failures_total", "CONNECT frames with a bad login or from a host not allowed"],
  ["protocolErrors", "deploykit_broker_protocol_errors_total", "Connections closed with an ERROR frame"],
  ["slowConsumers", "deploykit_broker_slow_consumers_total", "Subscribers disconnected for not keeping up"],
  ["heartbeatTimeouts", "deploykit_broker_heartbeat_timeouts_total", "Connections closed because the client's heart-beats stopped"],
  ["messagesIn", "deploykit_broker_messages_in_total", "Messages published (SEND)"],
  ["messagesOut", "deploykit_broker_messages_out_total", "Messages delivered (MESSAGE)"],
  ["redelivered", "deploykit_broker_messages_redelivered_total", "Deliveries marked redelivered (after NACK or a consumer leaving)"],
  ["dropped", "deploykit_broker_messages_dropped_total", "Messages dropped from a full queue"],
  ["unroutable", "deploykit_broker_messages_unroutable_total", "Messages published to a destination with no subscriber"],
];

function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Prometheus text exposition format 0.0.4. */
export function metricsText(metrics: BrokerMetrics, gauges: BrokerGauges): string {
  const lines: string[] = [];
  for (const [key, name, help] of counters) lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${metrics[key]}`);
  const gauge = (name: string, help: string, value: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
  gauge("deploykit_broker_connections", "Open connections", gauges.connections);
  gauge("deploykit_broker_subscriptions", "Active subscriptions", gauges.subscriptions);
  gauge("deploykit_broker_topics", "Topic names or patterns with a subscriber", gauges.topics);
  gauge("deploykit_broker_queues", "Named queues (groups and /queue/ destinations)", gauges.queues.length);
  lines.push("# HELP deploykit_broker_queue_depth Messages waiting in a named queue", "# TYPE deploykit_broker_queue_depth gauge");
  for (const queue of gauges.queues) lines.push(`deploykit_broker_queue_depth{queue="${label(queue.name)}"} ${queue.depth}`);
  lines.push("# HELP deploykit_broker_queue_consumers Consumers of a named queue", "# TYPE deploykit_broker_queue_consumers gauge");
  for (const queue of gauges.queues) lines.push(`deploykit_broker_queue_consumers{queue="${label(queue.name)}"} ${queue.consumers}`);
  return `${lines.join("\n")}\n`;
}
