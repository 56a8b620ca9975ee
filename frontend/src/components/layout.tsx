import type { ComponentChildren } from "preact";
import type { Session } from "../app.tsx";
import type { Route } from "../router.ts";
import { may } from "../session.ts";

const links: { path: string; label: string; match: string[]; deployer?: boolean }[] = [
  { path: "#/", label: "Overview", match: [""] },
  { path: "#/deploy", label: "Deploy", match: ["deploy"], deployer: true },
  { path: "#/deploys", label: "History", match: ["deploys", "history"] },
  { path: "#/hosts", label: "Hosts", match: ["hosts"] },
  { path: "#/locks", label: "Locks", match: ["locks"] },
];

export function Layout({ session, route, onSignOut, children }: { session: Session; route: Route; onSignOut(): void; children: ComponentChildren }) {
  const current = route.parts[0] ?? "";
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          deploykit
        </a>
        <nav aria-label="Main">
          <ul>
            {links
              .filter((link) => !link.deployer || may(session.who, "deployer"))
              .map((link) => (
                <li key={link.path}>
                  <a href={link.path} aria-current={link.match.includes(current) && !(current === "deploys" && route.parts[1]) ? "page" : undefined}>
                    {link.label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <div class="who">
          <span title="the token you signed in with, and its role">
            {session.who.name} <span class="role">({session.who.role})</span>
          </span>
          <button type="button" class="link" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      {children}
    </>
  );
}
