import { useEffect, useRef } from "preact/hooks";
import type { DeployHost, LogLine, Step } from "../../../shared/api-types.ts";
import { duration } from "../format.ts";
import { Badge } from "./badge.tsx";

/** One host of a deploy: outcome, steps, why it failed, and its log, which follows new lines while scrolled to the end. */
export function HostCard({ host, steps, lines, open }: { host: DeployHost; steps: Step[]; lines: LogLine[]; open: boolean }) {
  const logRef = useRef<HTMLPreElement>(null);
  const atEnd = useRef(true);
  useEffect(() => {
    const pre = logRef.current;
    if (pre && atEnd.current) pre.scrollTop = pre.scrollHeight;
  }, [lines.length]);
  const ordered = [...steps].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return (
    <article class="panel host-card" data-host={host.host} data-outcome={host.outcome}>
      <div class="row">
        <h3 class="mono">{host.host}</h3>
        <Badge state={host.outcome} />
        {host.durationMs !== null ? <span class="muted">{duration(host.durationMs)}</span> : null}
        {host.release ? <span class="muted mono">release {host.release}</span> : null}
        {host.unexpected ? <Badge state="differs" label="not in the plan" /> : null}
      </div>
      {host.reason || host.failedStep ? (
        <p class={`notice tone-${host.outcome === "succeeded" ? "muted" : "bad"}`}>
          {host.failedStep ? (
            <>
              <strong>{host.failedStep}</strong> failed
              {host.reason ? ": " : ""}
            </>
          ) : null}
          {host.reason}
        </p>
      ) : null}
      {ordered.length > 0 ? (
        <ol class="steps" aria-label={`Steps on ${host.host}`}>
          {ordered.map((step) => (
            <li key={step.step}>
              <Badge state={step.state} label={`${step.step} ${step.state}`} title={step.durationMs === null ? `started ${step.startedAt}` : duration(step.durationMs)} />
            </li>
          ))}
        </ol>
      ) : null}
      <details open={open}>
        <summary>
          Log ({lines.length} {lines.length === 1 ? "line" : "lines"})
        </summary>
        <pre
          class="log"
          ref={logRef}
          role="log"
          aria-live="off"
          // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling log must be reachable by keyboard to scroll it
          tabIndex={0}
          aria-label={`Log of ${host.host}`}
          onScroll={(event) => {
            const pre = event.currentTarget;
            atEnd.current = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
          }}
        >
          {lines.length === 0 ? <span class="agent">(no output yet)</span> : null}
          {lines.map((line) => (
            <span key={line.offset} class={line.stream === "stdout" ? undefined : line.stream}>
              {line.step ? `[${line.step}] ` : ""}
              {line.text}
              {"\n"}
            </span>
          ))}
        </pre>
      </details>
    </article>
  );
}
