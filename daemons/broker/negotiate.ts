import { type StompVersion, supportedVersions } from "./stomp-frame.ts";

/** What CONNECT and the broker agreed: the version, and heart-beat periods in ms (0: none). */
export interface Agreement {
  version: StompVersion;
  /** The broker sends something at least this often. */
  sendEvery: number;
  /** The broker expects something from the client at least this often. */
  expectEvery: number;
}

export interface Refusal {
  message: string;
  detail: string;
  headers?: Record<string, string>;
}

/**
 * Version and heart-beat negotiation for a CONNECT or STOMP frame: the
 * highest version both accept (1.0 when the client names none), and each
 * heart-beat direction the larger of what one side offers and the other asks,
 * or none when either says 0 (STOMP 1.2, "Heart-beating").
 */
export function negotiate(headers: Record<string, string>, brokerMs: number): Agreement | { refusal: Refusal } {
  const accepted = (headers["accept-version"] ?? "1.0").split(",").map((v) => v.trim());
  const version = [...supportedVersions].reverse().find((v) => accepted.includes(v));
  if (!version) {
    return {
      refusal: {
        message: "unsupported STOMP version",
        detail: `the client accepts ${accepted.join(",")}; this broker speaks ${supportedVersions.join(",")}`,
        headers: { version: supportedVersions.join(",") },
      },
    };
  }
  let clientSends = 0;
  let clientWants = 0;
  const offered = headers["heart-beat"];
  if (offered !== undefined && version !== "1.0") {
    if (!/^\d{1,9},\d{1,9}$/.test(offered.trim())) {
      return { refusal: { message: "malformed heart-beat header", detail: `expected "cx,cy" in milliseconds, got "${offered.slice(0, 40)}"` } };
    }
    [clientSends, clientWants] = offered.trim().split(",").map(Number) as [number, number];
  }
  return {
    version,
    sendEvery: brokerMs > 0 && clientWants > 0 ? Math.max(brokerMs, clientWants) : 0,
    expectEvery: brokerMs > 0 && clientSends > 0 ? Math.max(brokerMs, clientSends) : 0,
  };
}
