import net from "node:net";

// A TCP hop between a client under test and a real broker, so a test can break
// the network the way production does: links that drop, brokers that vanish.

export interface TcpProxy {
  /** Port on 127.0.0.1 that forwards to the target. */
  readonly port: number;
  /** Destroys every open connection, both the client's and the broker's side. */
  cut(): void;
  /** cut(), then refuses new connections (accepts and destroys them at once) for ms milliseconds. */
  pause(ms?: number): void;
  /** Stops listening and destroys every connection; safe to call twice. */
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let refuseUntil = 0;
  let closed = false;

  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // Resets and writes after a cut are the point of this helper, not a failure.
    socket.on("error", () => {});
  };

  const server = net.createServer((client) => {
    track(client);
    if (closed || Date.now() < refuseUntil) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: targetHost, port: targetPort });
    track(upstream);
    // One side going away takes the other with it, as a broken link would.
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", () => {});
  const { port } = server.address() as net.AddressInfo;

  const cut = (): void => {
    for (const socket of [...sockets]) socket.destroy();
  };

  return {
    port,
    cut,
    pause(ms = 1000) {
      refuseUntil = Math.max(refuseUntil, Date.now() + ms);
      cut();
    },
    close() {
      closed = true;
      cut();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
      });
    },
  };
}
