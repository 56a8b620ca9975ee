import { MessageQueue, type QueueArgs } from "./message-queue.ts";
import type { BrokerContext } from "./session.ts";
import { FrameError, numericHeader } from "./stomp-frame.ts";

/**
 * The named queue a SEND or SUBSCRIBE refers to (`/queue/NAME`, or a group's
 * `x-queue-name`), created on first use with the arguments of that first
 * declaration. A later declaration that asks for different arguments is an
 * error, as on RabbitMQ, so members configured differently find out at once.
 */
export function declareQueue(context: Pick<BrokerContext, "router" | "limits" | "queueHooks">, name: string, headers: Record<string, string>): MessageQueue {
  const { router, limits } = context;
  const requested = numericHeader(headers["x-max-length"], "x-max-length");
  const args: QueueArgs = {
    maxLength: Math.min(requested ?? limits.maxQueueLength, limits.maxQueueLength),
    overflow: "drop-head",
    expiresMs: numericHeader(headers["x-expires"], "x-expires") ?? 0,
    autoDelete: headers["auto-delete"] === "true",
  };
  const existing = router.queues.get(name);
  if (existing) {
    if (headers["x-max-length"] !== undefined && existing.args.maxLength !== args.maxLength) {
      throw new FrameError(`queue "${name}" exists with x-max-length ${existing.args.maxLength}, not ${args.maxLength}`);
    }
    if (headers["x-expires"] !== undefined && existing.args.expiresMs !== args.expiresMs) {
      throw new FrameError(`queue "${name}" exists with x-expires ${existing.args.expiresMs}, not ${args.expiresMs}`);
    }
    return existing;
  }
  // Each queue may hold maxQueueLength messages, so their number is what bounds the broker's memory.
  if (router.queues.size >= limits.maxQueues) {
    throw new FrameError(`the broker holds ${router.queues.size} queues, its limit (broker.maxQueues); queue "${name}" was not created`);
  }
  const queue = new MessageQueue(name, args, context.queueHooks);
  router.queues.set(name, queue);
  return queue;
}
