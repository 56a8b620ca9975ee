// A state shown in words, with a symbol and a colour that repeat it: the meaning never rests on colour alone.

const looks: Record<string, { tone: string; symbol: string }> = {
  succeeded: { tone: "good", symbol: "✓" },
  passed: { tone: "good", symbol: "✓" },
  ok: { tone: "good", symbol: "✓" },
  alive: { tone: "good", symbol: "●" },
  failed: { tone: "bad", symbol: "✗" },
  failing: { tone: "bad", symbol: "✗" },
  timeout: { tone: "bad", symbol: "✗" },
  refused: { tone: "bad", symbol: "✗" },
  "rolled-back": { tone: "warn", symbol: "↺" },
  interrupted: { tone: "warn", symbol: "!" },
  missing: { tone: "warn", symbol: "○" },
  locked: { tone: "warn", symbol: "▣" },
  differs: { tone: "warn", symbol: "≠" },
  cancelled: { tone: "muted", symbol: "⊘" },
  skipped: { tone: "muted", symbol: "–" },
  unknown: { tone: "muted", symbol: "?" },
  running: { tone: "busy", symbol: "●" },
  started: { tone: "busy", symbol: "●" },
  queued: { tone: "muted", symbol: "…" },
  pending: { tone: "muted", symbol: "…" },
};

export function Badge({ state, label, title }: { state: string; label?: string; title?: string }) {
  const look = looks[state] ?? { tone: "muted", symbol: "•" };
  return (
    <span class={`badge tone-${look.tone}`} data-state={state} title={title}>
      <span aria-hidden="true">{look.symbol}</span> {label ?? state}
    </span>
  );
}
