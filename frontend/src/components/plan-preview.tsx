import type { Plan } from "../../../shared/api-types.ts";
import { duration, releaseLabel, shortSha } from "../format.ts";
import { Badge } from "./badge.tsx";

/** Which host goes from which release to which, in which batch, and what the CI gate says. */
export function PlanPreview({ plan }: { plan: Plan }) {
  const total = plan.batches.reduce((n, batch) => n + batch.hosts.length, 0);
  const unchanged = plan.batches.reduce((n, batch) => n + batch.hosts.filter((host) => host.unchanged).length, 0);
  return (
    <div class="stack">
      <p>
        <strong class="mono">{plan.ref}</strong>{" "}
        <span class="muted mono" title={plan.sha}>
          {shortSha(plan.sha)}
        </span>{" "}
        to {total} {total === 1 ? "server" : "servers"} in {plan.batches.length} {plan.batches.length === 1 ? "batch" : "batches"}
        {plan.rollout.canary > 0 ? ", canary first" : ""}
        {plan.rollout.pauseMs > 0 && plan.batches.length > 1 ? `, ${duration(plan.rollout.pauseMs)} between batches` : ""}.
        {plan.previousRef ? ` The environment now runs ${plan.previousRef}.` : " Nothing was deployed here before."}
        {unchanged > 0 ? ` ${unchanged} already ${unchanged === 1 ? "runs" : "run"} this commit (deployed again).` : ""}
      </p>
      <p>
        CI gate:{" "}
        {plan.gate === null ? (
          <span class="muted">none for this environment</span>
        ) : (
          <>
            <Badge state={plan.gate.status} label={`build ${plan.gate.status}`} />
            {plan.forced ? <strong> — forced past the gate, and recorded as such</strong> : null}
          </>
        )}
      </p>
      <div class="table-wrap">
        <table class="grid">
          <caption class="visually-hidden">The plan, batch by batch</caption>
          <thead>
            <tr>
              <th scope="col">Batch</th>
              <th scope="col">Host</th>
              <th scope="col">From</th>
              <th scope="col">To</th>
            </tr>
          </thead>
          <tbody>
            {plan.batches.flatMap((batch) =>
              batch.hosts.map((host, index) => (
                <tr key={host.host} data-plan-host={host.host}>
                  <td>{index === 0 ? `${batch.batch + 1}${batch.canary ? " (canary)" : ""}` : ""}</td>
                  <th scope="row" class="mono">
                    {host.host}
                  </th>
                  <td>{releaseLabel(host.from)}</td>
                  <td>
                    {plan.ref}
                    {host.unchanged ? <span class="muted"> (unchanged)</span> : null}
                  </td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
