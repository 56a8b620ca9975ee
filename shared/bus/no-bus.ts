import type { Bus } from "./bus.ts";

/** What a daemon that is itself the bus (the broker) gets for `bus`: any use is a programming error. */
export function noBus(component: string): Bus {
  const refuse = (): never => {
    throw new Error(`${component} runs without a bus connection (usesBus: false)`);
  };
  return {
    state: "closed",
    source: { component, host: "" },
    description: "(none)",
    publish: async () => refuse(),
    subscribe: async () => refuse(),
    connected: async () => refuse(),
    onState: () => {},
    close: async () => {},
  };
}
