import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import type { Envelope } from "../../../shared/messages/index.ts";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";

// broker.tlsCert/tlsKey: the listener speaks TLS only; the bus connects with
// stomp+ssl:// and verifies the broker against bus.tlsCa.

async function selfSigned(): Promise<{ cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), "dk-tls-"));
  const cert = join(dir, "broker.crt");
  const key = join(dir, "broker.key");
  await execa("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ]);
  return { cert, key };
}

test("with a certificate the broker serves stomp+ssl:// to clients that trust it, and nothing in plain text", async (t) => {
  const tls = await selfSigned();
  const broker = await startTestBroker({ tls });
  t.teardown(() => broker.close());
  t.regex(broker.url, /^stomp\+ssl:\/\/127\.0\.0\.1:\d+$/);
  const prefix = uniquePrefix();
  const publisher = testBus(broker.url, prefix, {
    tls: { caFile: tls.cert, insecure: false },
  });
  const subscriber = testBus(broker.url, prefix, {
    tls: { caFile: tls.cert, insecure: false },
  });
  const untrusting = testBus(broker.url, prefix, { tls: { insecure: false } });
  t.teardown(() =>
    Promise.all(
      [publisher, subscriber, untrusting].map((bus) =>
        bus.close({ graceMs: 0 }),
      ),
    ).then(() => {}),
  );
  await Promise.all([
    publisher.connected(10_000),
    subscriber.connected(10_000),
  ]);
  const got: Envelope<{ text: string }>[] = [];
  await subscriber.subscribe(
    "events",
    (m: Envelope<{ text: string }>) => void got.push(m),
  );
  await publisher.publish("events", { text: "over TLS" });
  await waitFor(() => got.length === 1, 10_000, "the message over TLS");
  t.is(got[0]?.body.text, "over TLS");

  // A client that does not trust the certificate never connects.
  await t.throwsAsync(untrusting.connected(2_000));

  // Plain STOMP to the TLS port gets no CONNECTED.
  const plain = net.connect({ host: "127.0.0.1", port: broker.port });
  let reply = "";
  plain.on("data", (chunk: Buffer) => {
    reply += chunk.toString("latin1");
  });
  plain.on("error", () => {});
  plain.write("CONNECT\naccept-version:1.2\n\n\0");
  await new Promise((resolve) => plain.once("close", resolve));
  t.false(reply.includes("CONNECTED"));
  await waitFor(
    () => broker.stats().counters.connectionsRefused >= 1,
    5_000,
    "the failed handshakes to be counted",
  );
});
