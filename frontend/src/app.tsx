import { useEffect, useMemo, useState } from "preact/hooks";
import type { WhoAmI } from "../../shared/api-types.ts";
import { Api, ApiError } from "./api.ts";
import { Layout } from "./components/layout.tsx";
import { DeployPage } from "./pages/deploy-page.tsx";
import { DeploysPage } from "./pages/history-page.tsx";
import { HostsPage } from "./pages/hosts-page.tsx";
import { LivePage } from "./pages/live-page.tsx";
import { LocksPage } from "./pages/locks-page.tsx";
import { OverviewPage } from "./pages/overview-page.tsx";
import { SignInPage } from "./pages/sign-in-page.tsx";
import { type Route, useRoute } from "./router.ts";
import { forgetToken, may, storedToken, storeToken } from "./session.ts";

export interface Session {
  api: Api;
  who: WhoAmI;
}

export interface PageProps {
  session: Session;
  route: Route;
}

/** Signs in with an API token, then shows the page the URL names. */
export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | undefined>(undefined);
  const [checking, setChecking] = useState(() => storedToken() !== undefined);
  const [expired, setExpired] = useState<string | undefined>(undefined);

  const signOut = useMemo(
    () => (why?: string) => {
      forgetToken();
      setSession(undefined);
      setExpired(why);
    },
    [],
  );

  const signIn = async (token: string, remember: boolean): Promise<void> => {
    const api = new Api(token);
    const who = await api.whoami();
    storeToken(token, remember);
    api.onUnauthenticated = () => signOut("The conductor no longer accepts this token: sign in again.");
    setExpired(undefined);
    setSession({ api, who });
  };

  useEffect(() => {
    const token = storedToken();
    if (token === undefined) return;
    const api = new Api(token);
    api
      .whoami()
      .then((who) => {
        api.onUnauthenticated = () => signOut("The conductor no longer accepts this token: sign in again.");
        setSession({ api, who });
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) signOut("The conductor no longer accepts the saved token: sign in again.");
        else setExpired(err instanceof Error ? err.message : String(err));
      })
      .finally(() => setChecking(false));
  }, [signOut]);

  useEffect(() => {
    document.title = session ? `${pageTitle(route)} · deploykit` : "Sign in · deploykit";
  }, [route, session]);

  if (checking) return <main aria-busy="true" class="page" />;
  if (session === undefined) return <SignInPage onSignIn={signIn} notice={expired} />;
  return (
    <Layout session={session} route={route} onSignOut={() => signOut()}>
      <Page session={session} route={route} />
    </Layout>
  );
}

function Page({ session, route }: PageProps) {
  const [first, second] = route.parts;
  if (first === undefined) return <OverviewPage session={session} route={route} />;
  if (first === "deploy" && may(session.who, "deployer")) return <DeployPage session={session} route={route} />;
  if (first === "deploys" && second !== undefined) return <LivePage key={second} session={session} route={route} />;
  if (first === "deploys" || first === "history") return <DeploysPage session={session} route={route} />;
  if (first === "hosts") return <HostsPage session={session} route={route} />;
  if (first === "locks") return <LocksPage session={session} route={route} />;
  return (
    <main class="page" id="main" aria-busy="false">
      <h1>Not found</h1>
      <p>
        There is no page at <code>{route.path}</code>
        {first === "deploy" ? " for your role: deploying needs a deployer or admin token" : ""}. <a href="#/">Go to the overview</a>.
      </p>
    </main>
  );
}

function pageTitle(route: Route): string {
  const [first, second] = route.parts;
  if (first === undefined) return "Overview";
  if (first === "deploys" && second) return `Deploy #${second}`;
  return { deploy: "Deploy", deploys: "History", history: "History", hosts: "Hosts", locks: "Locks" }[first] ?? "Not found";
}
