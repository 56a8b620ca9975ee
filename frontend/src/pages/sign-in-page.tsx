import { useState } from "preact/hooks";
import { ErrorNotice, Notice } from "../components/notice.tsx";

/** An API token (`deploykit token create`, or the admin token `deploykit up` writes) is the sign-in. */
export function SignInPage({ onSignIn, notice }: { onSignIn(token: string, remember: boolean): Promise<void>; notice?: string }) {
  const [token, setToken] = useState("");
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (token.trim() === "") {
      setError(new Error("paste an API token first"));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await onSignIn(token.trim(), remember);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <main class="page sign-in" id="main" aria-busy="false">
      <h1>Sign in to deploykit</h1>
      {notice ? <Notice tone="warn">{notice}</Notice> : null}
      <form onSubmit={submit} class="stack">
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          spellcheck={false}
          value={token}
          onInput={(event) => setToken(event.currentTarget.value)}
          aria-describedby="token-help"
          required
        />
        <p id="token-help" class="help">
          An admin creates tokens with <code>deploykit token create NAME --role viewer|deployer|admin</code>. <code>deploykit up</code> leaves an admin
          token in its data directory (<code>admin.token</code>).
        </p>
        <label class="check">
          <input type="checkbox" checked={remember} onChange={(event) => setRemember(event.currentTarget.checked)} /> Remember on this browser
        </label>
        <ErrorNotice error={error} title="Not signed in" />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
