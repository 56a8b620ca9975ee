// Logical topic -> broker destination, in one place for every transport.

export function routeName(prefix: string, topic: string): string {
  return prefix === "" ? topic : `${prefix}.${topic}`;
}

/** The queue a named group shares; identical over STOMP and AMQP on RabbitMQ so both kinds of member share it. */
export function groupQueueName(route: string, group: string): string {
  return `${route}.group.${group}`;
}

export function stompTopicDestination(route: string): string {
  return `/topic/${route}`;
}

/** ActiveMQ virtual topics: `Consumer.<group>.<topic>` queues share what `/topic/<topic>` receives. */
export function activemqGroupDestination(route: string, group: string): string {
  return `/queue/Consumer.${group}.${route}`;
}

export const amqpExchange = "amq.topic";
