import net from "node:net";

// The real brokers the contract suite runs against. `.ci/brokers` installs and
// starts them; a broker that is not reachable fails its tests (it does not skip
// them), with the command that fixes it.

export interface BrokerUnderTest {
  name: string;
  url: string;
  /** host:port to probe and to put a proxy in front of; absent for memory://. */
  endpoint?: { host: string; port: number };
}

export const brokers: BrokerUnderTest[] = [
  { name: "memory", url: "memory://contract" },
  {
    name: "rabbitmq-stomp",
    url: process.env.TEST_RABBITMQ_STOMP_URL ?? "stomp://guest:guest@127.0.0.1:61613",
    endpoint: { host: "127.0.0.1", port: 61613 },
  },
  {
    name: "rabbitmq-amqp",
    url: process.env.TEST_RABBITMQ_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672",
    endpoint: { host: "127.0.0.1", port: 5672 },
  },
  {
    name: "activemq-stomp",
    url: process.env.TEST_ACTIVEMQ_STOMP_URL ?? "stomp://admin:admin@127.0.0.1:61614",
    endpoint: { host: "127.0.0.1", port: 61614 },
  },
];

export function reachable(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** The same URL with its host:port replaced, e.g. to route it through a test proxy. */
export function viaPort(url: string, port: number): string {
  const copy = new URL(url);
  copy.hostname = "127.0.0.1";
  copy.port = String(port);
  return copy.href;
}
