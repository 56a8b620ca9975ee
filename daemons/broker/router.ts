import type { BrokerMessage } from "./broker-message.ts";
import type { MessageQueue } from "./message-queue.ts";

interface WildcardBinding {
  pattern: string;
  queues: Set<MessageQueue>;
}

/** RabbitMQ's topic-exchange patterns: `*` is one dot-separated word, `#` is zero or more. */
export function isWildcard(pattern: string): boolean {
  return pattern.split(".").some((word) => word === "*" || word === "#");
}

export function topicMatches(pattern: string, topic: string): boolean {
  return matchWords(pattern.split("."), 0, topic.split("."), 0);
}

function matchWords(pattern: string[], i: number, topic: string[], j: number): boolean {
  if (i === pattern.length) return j === topic.length;
  const word = pattern[i];
  if (word === "#") {
    for (let k = j; k <= topic.length; k++) if (matchWords(pattern, i + 1, topic, k)) return true;
    return false;
  }
  if (j === topic.length) return false;
  return (word === "*" || word === topic[j]) && matchWords(pattern, i + 1, topic, j + 1);
}

/**
 * Where a published message goes: topic names to the queues bound to them
 * (every subscription is a queue: private for a plain subscriber, shared for a
 * group), and queue names to their queue.
 */
export class Router {
  /** Named queues: `/queue/NAME` and the group queues named by `x-queue-name`. */
  readonly queues = new Map<string, MessageQueue>();
  private readonly exact = new Map<string, Set<MessageQueue>>();
  private readonly wildcards: WildcardBinding[] = [];
  private readonly bindings = new Map<MessageQueue, Set<string>>();
  bindingCount = 0;

  bind(pattern: string, queue: MessageQueue): void {
    let patterns = this.bindings.get(queue);
    if (!patterns) {
      patterns = new Set();
      this.bindings.set(queue, patterns);
    }
    if (patterns.has(pattern)) return;
    patterns.add(pattern);
    this.bindingCount++;
    if (isWildcard(pattern)) {
      let binding = this.wildcards.find((w) => w.pattern === pattern);
      if (!binding) {
        binding = { pattern, queues: new Set() };
        this.wildcards.push(binding);
      }
      binding.queues.add(queue);
      return;
    }
    let queues = this.exact.get(pattern);
    if (!queues) {
      queues = new Set();
      this.exact.set(pattern, queues);
    }
    queues.add(queue);
  }

  /** Removes the queue's bindings and, if it is named, the queue. */
  delete(queue: MessageQueue): void {
    for (const pattern of this.bindings.get(queue) ?? []) {
      this.bindingCount--;
      const queues = this.exact.get(pattern);
      if (queues) {
        queues.delete(queue);
        if (queues.size === 0) this.exact.delete(pattern);
        continue;
      }
      const at = this.wildcards.findIndex((w) => w.pattern === pattern);
      const binding = this.wildcards[at];
      if (!binding) continue;
      binding.queues.delete(queue);
      if (binding.queues.size === 0) this.wildcards.splice(at, 1);
    }
    this.bindings.delete(queue);
    if (this.queues.get(queue.name) === queue) this.queues.delete(queue.name);
    queue.clear();
  }

  /** Returns how many queues the message reached. */
  publishTopic(topic: string, message: BrokerMessage): number {
    const queues = this.exact.get(topic);
    if (this.wildcards.length === 0) {
      if (!queues) return 0;
      // Counted first: a slow consumer disconnected by this very publish takes its queue out of the set.
      const reached = queues.size;
      for (const queue of queues) queue.enqueue(message);
      return reached;
    }
    // A queue bound by several matching patterns gets the message once, as in RabbitMQ.
    const reached = new Set<MessageQueue>(queues);
    for (const binding of this.wildcards) {
      if (topicMatches(binding.pattern, topic)) for (const queue of binding.queues) reached.add(queue);
    }
    for (const queue of reached) queue.enqueue(message);
    return reached.size;
  }

  /** Topic names with at least one binding. */
  get topicCount(): number {
    return this.exact.size + this.wildcards.length;
  }
}
