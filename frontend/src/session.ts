import type { Role, WhoAmI } from "../../shared/api-types.ts";

// The token stays in this tab (sessionStorage) unless the operator asks to be
// remembered on this browser (localStorage). It is only ever sent in the
// Authorization header, never in a URL.
const storageKey = "deploykit.token";

export function storedToken(): string | undefined {
  return sessionStorage.getItem(storageKey) ?? localStorage.getItem(storageKey) ?? undefined;
}

export function storeToken(token: string, remember: boolean): void {
  forgetToken();
  (remember ? localStorage : sessionStorage).setItem(storageKey, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(storageKey);
  localStorage.removeItem(storageKey);
}

const rank: Record<Role, number> = { viewer: 0, deployer: 1, admin: 2 };

/** Whether the signed-in token may do what needs `need` (the API checks again). */
export function may(who: WhoAmI, need: Role): boolean {
  return rank[who.role] >= rank[need];
}
