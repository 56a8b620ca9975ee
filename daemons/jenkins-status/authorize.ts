import { createHash, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return address === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

function sameSecret(given: string, expected: string): boolean {
  // Hashing first makes the compare constant-time whatever the lengths.
  return timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest());
}

/** The token a request presents: `Authorization: Bearer T`, basic auth with T as password (a URL's user:T@), or `?token=T`. */
function presented(req: Request): string | undefined {
  const header = req.get("authorization") ?? "";
  const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  if (bearer) return bearer;
  const basic = /^Basic\s+(\S+)$/i.exec(header)?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, "base64").toString("utf8");
    return decoded.includes(":") ? decoded.slice(decoded.indexOf(":") + 1) : undefined;
  }
  const query = req.query.token;
  return typeof query === "string" && query !== "" ? query : undefined;
}

/**
 * With a token configured, a request must present it; without one, only
 * clients on this host are let in (Jenkins on the same machine, or a proxy
 * that checks its own credentials).
 */
export function authorize(token: string, onRefused: (status: 401 | 403) => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!token) {
      if (isLoopback(req.socket.remoteAddress)) {
        next();
        return;
      }
      onRefused(403);
      res.status(403).json({ error: "jenkins-status.token is not set, so only clients on this host may notify: set a token and give it in the notification URL" });
      return;
    }
    const given = presented(req);
    if (given !== undefined && sameSecret(given, token)) {
      next();
      return;
    }
    onRefused(401);
    res
      .status(401)
      .set("WWW-Authenticate", 'Bearer realm="deploykit"')
      .json({ error: given === undefined ? "a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN in the URL" : "the token is wrong" });
  };
}
