export class HandlerTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`handler did not finish within ${timeoutMs} ms`);
    this.name = "HandlerTimeoutError";
  }
}

export type HandlerOutcome = { ok: true } | { ok: false; error: Error };

const succeeded: HandlerOutcome = { ok: true };

function failed(err: unknown): HandlerOutcome {
  return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

/**
 * Runs one message handler with a deadline. The handler may ask for a signal
 * that aborts on timeout or when `parent` aborts (the bus is closing), so work
 * that honours it stops instead of running on unobserved.
 *
 * This runs for every message, so it costs nothing a handler does not use: the
 * signal is made only when asked for, and a handler that returns without a
 * promise is done at once, with no timer.
 */
export function runHandler(
  call: (signal: () => AbortSignal) => unknown,
  options: { timeoutMs: number; parent: AbortSignal },
): HandlerOutcome | Promise<HandlerOutcome> {
  const { parent, timeoutMs } = options;
  let controller: AbortController | undefined;
  const onParentAbort = () => controller?.abort(parent.reason);
  const signal = () => {
    if (!controller) {
      controller = new AbortController();
      if (parent.aborted) controller.abort(parent.reason);
      else parent.addEventListener("abort", onParentAbort, { once: true });
    }
    return controller.signal;
  };
  const release = () => {
    if (controller) parent.removeEventListener("abort", onParentAbort);
  };
  let result: unknown;
  try {
    result = call(signal);
  } catch (err) {
    release();
    return failed(err);
  }
  if (!isThenable(result)) {
    release();
    return succeeded;
  }
  return new Promise<HandlerOutcome>((resolve) => {
    const timer = setTimeout(() => {
      const error = new HandlerTimeoutError(timeoutMs);
      controller?.abort(error);
      release();
      resolve(failed(error));
    }, timeoutMs);
    // After a timeout the promise has already resolved; settling it again is a no-op.
    const settle = (outcome: HandlerOutcome) => {
      clearTimeout(timer);
      release();
      resolve(outcome);
    };
    result.then(
      () => settle(succeeded),
      (err: unknown) => settle(failed(err)),
    );
  });
}
