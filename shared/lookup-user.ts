import { execa } from "execa";

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export class UserLookupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserLookupError";
  }
}

async function getent(database: "passwd" | "group", key: string): Promise<string[] | undefined> {
  const result = await execa("getent", [database, key], { reject: false, timeout: 10_000 });
  if (result.exitCode === 2) return undefined;
  if (result.exitCode !== 0 || result.failed) throw new UserLookupError(`cannot look up ${database === "passwd" ? "user" : "group"} "${key}" (getent ${database}: ${result.stderr || result.shortMessage})`);
  return String(result.stdout).split("\n")[0]?.split(":") ?? [];
}

/**
 * A user from the system's user database (getent, so LDAP and other NSS
 * sources count). Fails with a message naming the user when it does not exist.
 */
export async function lookupUser(user: string): Promise<SystemUser> {
  const fields = await getent("passwd", user);
  if (fields === undefined) throw new UserLookupError(`user "${user}" does not exist on this host`);
  const [name, , uid, gid, , home] = fields;
  if (name === undefined || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) {
    throw new UserLookupError(`getent passwd ${user} gave an entry that cannot be read: ${fields.join(":")}`);
  }
  return { name, uid: Number(uid), gid: Number(gid), home: home || "/" };
}

/** A group's id, by name. */
export async function lookupGroup(group: string): Promise<number> {
  const fields = await getent("group", group);
  if (fields === undefined) throw new UserLookupError(`group "${group}" does not exist on this host`);
  const gid = fields[2];
  if (gid === undefined || !/^\d+$/.test(gid)) throw new UserLookupError(`getent group ${group} gave an entry that cannot be read: ${fields.join(":")}`);
  return Number(gid);
}
