export class HandlerTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`handler did not finish within ${timeoutMs} ms`);
    this.name = "HandlerTimeoutError";
  }
}

export type HandlerOutcome = { ok: true } | { ok: false; error: Error };

/**
 * Runs one message handler with a deadline. The handler gets a signal that
 * aborts on timeout or when `parent` aborts (the bus is closing), so work that
 * honours it stops instead of running on unobserved.
 */
export async function runHandler(
  handler: (signal: AbortSignal) => Promise<void> | void,
  options: { timeoutMs: number; parent: AbortSignal },
): Promise<HandlerOutcome> {
  const controller = new AbortController();
  const onParentAbort = () => controller.abort(options.parent.reason);
  options.parent.addEventListener("abort", onParentAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new HandlerTimeoutError(options.timeoutMs);
      controller.abort(error);
      reject(error);
    }, options.timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(() => handler(controller.signal)), timeout]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  } finally {
    clearTimeout(timer);
    options.parent.removeEventListener("abort", onParentAbort);
  }
}
