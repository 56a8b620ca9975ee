import { useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { ErrorNotice } from "./notice.tsx";

export interface LockTarget {
  app: string;
  environment: string;
  lockRequired: boolean;
  locked: boolean;
}

const expiries: { value: string; label: string }[] = [
  { value: "", label: "Never" },
  { value: "30m", label: "30 minutes" },
  { value: "1h", label: "1 hour" },
  { value: "2h", label: "2 hours" },
  { value: "8h", label: "8 hours" },
  { value: "24h", label: "24 hours" },
];

/** Admins lock an environment with a reason, for good or for a while. */
export function LockForm({ api, targets, onLocked }: { api: Api; targets: LockTarget[]; onLocked(target: LockTarget): void }) {
  const [chosen, setChosen] = useState("");
  const [reason, setReason] = useState("");
  const [expiresIn, setExpiresIn] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const target = targets.find((candidate) => label(candidate) === chosen) ?? targets[0];

  // The conductor trims the reason and refuses a blank one: its answer is shown as is.
  const submit = async (event: Event) => {
    event.preventDefault();
    if (!target) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.lock(target.app, target.environment, expiresIn ? { reason: reason.trim(), expiresIn } : { reason: reason.trim() });
      setReason("");
      onLocked(target);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h2>Lock an environment</h2>
      <form class="panel stack lock-form" onSubmit={submit}>
        <div>
          <label for="lock-target">Environment</label>
          <select id="lock-target" value={target ? label(target) : ""} onChange={(event) => setChosen(event.currentTarget.value)} aria-describedby="lock-target-help">
            {targets.map((candidate) => (
              <option key={label(candidate)} value={label(candidate)}>
                {label(candidate)}
              </option>
            ))}
          </select>
          <p id="lock-target-help" class="help">
            {target?.locked ? "Already locked: locking again replaces its reason and expiry. " : ""}
            {target && !target.lockRequired ? "Deploys here do not check locks: a lock is informational and does not block deploys." : ""}
          </p>
        </div>
        <div>
          <label for="lock-reason">Reason</label>
          <input id="lock-reason" type="text" required value={reason} placeholder="database migration until 15:00" onInput={(event) => setReason(event.currentTarget.value)} />
        </div>
        <div>
          <label for="lock-expires">Expires</label>
          <select id="lock-expires" value={expiresIn} onChange={(event) => setExpiresIn(event.currentTarget.value)}>
            {expiries.map((expiry) => (
              <option key={expiry.value} value={expiry.value}>
                {expiry.label}
              </option>
            ))}
          </select>
        </div>
        <ErrorNotice error={error} />
        <button type="submit" class="primary" disabled={busy || !target}>
          {busy ? "Locking…" : "Lock"}
        </button>
      </form>
    </section>
  );
}

export function label(target: { app: string; environment: string }): string {
  return `${target.app}/${target.environment}`;
}
