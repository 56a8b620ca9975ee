import { useEffect, useMemo, useState } from "preact/hooks";
import type { App, Host, Plan } from "../../../shared/api-types.ts";
import type { PageProps } from "../app.tsx";
import { Badge } from "../components/badge.tsx";
import { ErrorNotice, Notice } from "../components/notice.tsx";
import { PlanPreview } from "../components/plan-preview.tsx";
import { RefPicker } from "../components/ref-picker.tsx";
import { ServerPicker } from "../components/server-picker.tsx";
import { ApiError } from "../api.ts";
import { navigate } from "../router.ts";
import { may } from "../session.ts";
import { useLoad } from "../use-load.ts";

/**
 * App and environment, then a version, then servers, then the plan the
 * conductor would run; the conductor checks everything (lock, CI gate,
 * hosts) before anything is sent, and a refusal is shown in place of the plan.
 */
export function DeployPage({ session, route }: PageProps) {
  const { api, who } = session;
  const appName = route.query.get("app") ?? "";
  const envName = route.query.get("env") ?? "";
  const apps = useLoad((signal) => api.apps(signal), [api]);
  const hosts = useLoad((signal) => api.hosts(signal), [api], 15_000);
  const refs = useLoad((signal) => (appName ? api.refs(appName, false, signal) : Promise.resolve([])), [api, appName]);
  const app: App | undefined = apps.data?.find((a) => a.name === appName);
  const environment = app?.environments.find((e) => e.name === envName);

  const [ref, setRef] = useState("");
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [force, setForce] = useState(false);
  const [plan, setPlan] = useState<Plan | undefined>(undefined);
  const [refusal, setRefusal] = useState<unknown>(undefined);
  const [planning, setPlanning] = useState(false);
  const [sending, setSending] = useState(false);
  const [sendError, setSendError] = useState<unknown>(undefined);

  // Choosing the app or environment starts the rest over: every live host of the target is preselected.
  const targetKey = `${appName}/${envName}`;
  const targetHosts = environment?.hosts ?? [];
  useEffect(() => {
    setSelected(new Set(targetHosts.filter((host) => host.alive).map((host) => host.host)));
    setForce(false);
  }, [targetKey, environment === undefined]);
  useEffect(() => setRef(""), [appName]);

  const liveTargets = targetHosts.filter((host) => host.alive).map((host) => host.host);
  const allChosen = liveTargets.length > 0 && liveTargets.every((host) => selected.has(host)) && selected.size === liveTargets.length;
  const chosenHosts = useMemo(() => [...selected].sort(), [selected]);
  const request = useMemo(
    () => (ref && environment ? { app: appName, environment: envName, ref, hosts: allChosen ? undefined : chosenHosts, force: force || undefined } : undefined),
    [appName, envName, ref, environment, allChosen, chosenHosts, force],
  );

  useEffect(() => {
    setPlan(undefined);
    setRefusal(undefined);
    setSendError(undefined);
    if (request === undefined) return;
    if (request.hosts !== undefined && request.hosts.length === 0) {
      setRefusal(new ApiError(422, "no-hosts", "choose at least one server"));
      return;
    }
    const controller = new AbortController();
    setPlanning(true);
    const timer = setTimeout(() => {
      api.plan(request, controller.signal).then(
        (answer) => {
          setPlan(answer);
          setPlanning(false);
        },
        (err: unknown) => {
          if (controller.signal.aborted) return;
          setRefusal(err);
          setPlanning(false);
        },
      );
    }, 200);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [api, request]);

  const choose = (next: { app?: string; env?: string }) => {
    const nextApp = next.app ?? appName;
    const candidate = apps.data?.find((a) => a.name === nextApp);
    const nextEnv = next.env ?? (candidate?.environments.length === 1 ? candidate.environments[0]?.name : next.app === undefined ? envName : "");
    navigate("/deploy", { app: nextApp, env: nextEnv }, true);
  };

  const send = async () => {
    if (request === undefined) return;
    setSending(true);
    setSendError(undefined);
    try {
      const deploy = await api.createDeploy(request);
      navigate(`/deploys/${deploy.id}`);
    } catch (err) {
      setSendError(err);
      setSending(false);
    }
  };

  const refused = refusal !== undefined;
  const gateRefusal = refusal instanceof ApiError && refusal.code === "ci-gate";
  const count = request?.hosts?.length ?? plan?.batches.reduce((n, batch) => n + batch.hosts.length, 0) ?? selected.size;
  const ready = plan !== undefined && !refused && !planning && !sending;
  return (
    <main class="page" id="main" aria-busy={apps.data === undefined && apps.error === undefined ? "true" : "false"}>
      <h1>Deploy</h1>
      <ErrorNotice error={apps.error} title="Could not load the apps" />
      <fieldset>
        <legend>Where</legend>
        <div class="row">
          <div>
            <label for="deploy-app">App</label>
            <select id="deploy-app" value={appName} onChange={(event) => choose({ app: event.currentTarget.value })}>
              <option value="">Choose an app…</option>
              {(apps.data ?? []).map((a) => (
                <option key={a.name} value={a.name}>
                  {a.name}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="deploy-env">Environment</label>
            <select id="deploy-env" value={envName} disabled={app === undefined} onChange={(event) => choose({ env: event.currentTarget.value })}>
              <option value="">Choose an environment…</option>
              {(app?.environments ?? []).map((e) => (
                <option key={e.name} value={e.name}>
                  {e.name}
                  {e.lock ? " (locked)" : ""}
                </option>
              ))}
            </select>
          </div>
        </div>
        {environment?.lock ? (
          <p>
            <Badge state="locked" /> by {environment.lock.actor}: {environment.lock.reason}
          </p>
        ) : null}
      </fieldset>
      {app !== undefined ? <RefPicker refs={refs.data} error={refs.error} value={ref} onChange={setRef} onRefresh={() => refs.reload()} /> : null}
      {environment !== undefined ? <ServerPicker targets={targetHosts} hosts={hosts.data ?? ([] as Host[])} app={appName} selected={selected} onChange={setSelected} /> : null}
      {request !== undefined ? (
        <section aria-labelledby="plan-title" class="panel">
          <h2 id="plan-title">Plan</h2>
          {planning ? <p role="status">Asking the conductor…</p> : null}
          <ErrorNotice error={refusal} />
          {gateRefusal && may(who, "admin") ? (
            <label class="check">
              <input type="checkbox" checked={force} onChange={(event) => setForce(event.currentTarget.checked)} /> Deploy anyway, past the CI gate (recorded)
            </label>
          ) : null}
          {plan !== undefined && !refused ? <PlanPreview plan={plan} /> : null}
          {plan?.running ? (
            <Notice tone="warn">
              <strong>Busy:</strong> deploy #{plan.running.number} ({plan.running.ref} by {plan.running.actor}) is running
              {plan.queued > 0 ? `, ${plan.queued} queued` : ""}; this deploy waits behind {plan.queued > 0 ? "them" : "it"}.
            </Notice>
          ) : null}
          <ErrorNotice error={sendError} />
          <button type="button" class="primary" disabled={!ready} onClick={send}>
            {sending ? "Sending…" : `Deploy ${ref} to ${count} ${count === 1 ? "server" : "servers"}`}
          </button>
        </section>
      ) : null}
    </main>
  );
}
