import { randomUUID } from "node:crypto";
import { parentPort, Worker, workerData } from "node:worker_threads";
import { openLedger } from "../../daemons/conductor/ledger/open-ledger.ts";

// A second conductor on the same ledger database, in a thread of its own: on
// SQLite a second connection in the same thread would block that thread while
// it waits for the first one's write lock.

interface Job {
  url: string;
  app: string;
  environment: string;
  count: number;
}

/** Starts a thread that opens the ledger at url and creates count deploys at once; resolves to their numbers. */
export function createDeploysInWorker(job: Job): { ready: Promise<void>; numbers: Promise<number[]>; go(): void } {
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  const ready = Promise.withResolvers<void>();
  const numbers = Promise.withResolvers<number[]>();
  const fail = (error: Error) => {
    ready.reject(error);
    numbers.reject(error);
  };
  worker.on("message", (message: { ready?: true; numbers?: number[]; error?: string }) => {
    if (message.ready) ready.resolve();
    if (message.numbers) numbers.resolve(message.numbers);
    if (message.error) fail(new Error(`ledger worker: ${message.error}`));
  });
  worker.once("error", fail);
  worker.once("exit", (code) => fail(new Error(`ledger worker exited with ${code} before answering`)));
  // Whoever awaits only one of the two must not see the other as unhandled.
  ready.promise.catch(() => {});
  numbers.promise.catch(() => {});
  return { ready: ready.promise, numbers: numbers.promise, go: () => worker.postMessage("go") };
}

async function work(port: NonNullable<typeof parentPort>, job: Job): Promise<void> {
  const ledger = await openLedger(job.url);
  try {
    // Open first (migrations done), then wait for the signal so both conductors race.
    const go = new Promise((resolve) => port.once("message", resolve));
    port.postMessage({ ready: true });
    await go;
    const created = await Promise.all(
      Array.from({ length: job.count }, () =>
        ledger.createDeploy({
          uid: randomUUID(),
          app: job.app,
          environment: job.environment,
          action: "deploy",
          ref: "main",
          sha: "b".repeat(40),
          previousSha: null,
          rollbackOf: null,
          actor: "worker",
          forced: false,
          requestedHosts: null,
        }),
      ),
    );
    port.postMessage({ numbers: created.map((deploy) => deploy.number) });
  } finally {
    await ledger.close();
  }
}

if (parentPort && (workerData as Job | undefined)?.url) {
  const port = parentPort;
  work(port, workerData as Job).catch((error: unknown) => port.postMessage({ error: error instanceof Error ? error.stack : String(error) }));
}
