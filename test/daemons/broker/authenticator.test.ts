import test from "ava";
import { Authenticator, hashPassword, isLoopback } from "../../../daemons/broker/authenticator.ts";

// A cheap scrypt cost: these tests check the logic, not the key stretching.
const cheap = { N: 1024, r: 8, p: 1 };

test("hashPassword makes scrypt$N$r$p$SALT$HASH with a fresh salt each time", async (t) => {
  const [a, b] = await Promise.all([hashPassword("s3cret", cheap), hashPassword("s3cret", cheap)]);
  t.regex(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.not(a, b, "two hashes of one password differ by their salt");
  t.regex(await hashPassword("x"), /^scrypt\$16384\$8\$1\$/, "the default cost");
});

test("a login with the right passcode is accepted as that user; a wrong passcode or unknown login is refused alike", async (t) => {
  const auth = new Authenticator([`alice:${await hashPassword("s3cret", cheap)}`, `bob:${await hashPassword("other", cheap)}`], "none");
  t.deepEqual(await auth.check("alice", "s3cret", "10.0.0.9"), { ok: true, user: "alice" });
  t.deepEqual(await auth.check("bob", "other", "10.0.0.9"), { ok: true, user: "bob" });
  const wrong = await auth.check("alice", "other", "10.0.0.9");
  const unknown = await auth.check("mallory", "s3cret", "10.0.0.9");
  t.false(wrong.ok);
  t.deepEqual(unknown, wrong, "an unknown login is not told apart from a wrong passcode");
  t.false((await auth.check("alice", undefined, "127.0.0.1")).ok, "no passcode is a wrong passcode, from loopback too");
  // Verified results are cached; the answer stays the same.
  t.deepEqual(await auth.check("alice", "s3cret", "10.0.0.9"), { ok: true, user: "alice" });
  t.false((await auth.check("alice", "other", "10.0.0.9")).ok);
});

test("loopback policy: anonymous clients are accepted from this host only, IPv4, IPv6 and IPv4-mapped", async (t) => {
  const auth = new Authenticator([`alice:${await hashPassword("s3cret", cheap)}`], "loopback");
  for (const address of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) {
    t.deepEqual(await auth.check(undefined, undefined, address), { ok: true, user: "anonymous" }, address);
  }
  for (const address of ["10.0.0.1", "192.168.1.127", "::ffff:10.0.0.1", "::2", "fe80::1", "1127.0.0.1", undefined]) {
    const result = await auth.check(undefined, undefined, address);
    t.false(result.ok, String(address));
    if (!result.ok) t.regex(result.reason, /only allowed from this host: connect with a login and passcode/);
  }
  // A login is still checked from loopback.
  t.false((await auth.check("alice", "wrong", "127.0.0.1")).ok);
});

test("isLoopback", (t) => {
  t.true(isLoopback("127.0.0.1"));
  t.true(isLoopback("::ffff:127.0.0.53"));
  t.true(isLoopback("::1"));
  t.false(isLoopback("::"));
  t.false(isLoopback("0.0.0.0"));
  t.false(isLoopback("128.0.0.1"));
  t.false(isLoopback(""));
  t.false(isLoopback(undefined));
});

test("policy any accepts anonymous clients from anywhere; none refuses them, with the fix in the reason", async (t) => {
  t.deepEqual(await new Authenticator([], "any").check(undefined, undefined, "203.0.113.7"), { ok: true, user: "anonymous" });
  const none = new Authenticator([`alice:${await hashPassword("s3cret", cheap)}`], "none");
  t.deepEqual(await none.check(undefined, undefined, "127.0.0.1"), { ok: false, reason: "this broker requires a login and passcode" });
  t.deepEqual(await none.check("", "", "127.0.0.1"), { ok: false, reason: "this broker requires a login and passcode" });
});

test("without configured users a login is not checked: the anonymous policy decides", async (t) => {
  const auth = new Authenticator([], "loopback");
  t.deepEqual(await auth.check("guest", "guest", "127.0.0.1"), { ok: true, user: "anonymous" });
  t.false((await auth.check("guest", "guest", "10.0.0.1")).ok);
});

test("a broken broker.users is refused at start with a line that says how to fix it and quotes no secret", async (t) => {
  const good = await hashPassword("s3cret", cheap);
  t.throws(() => new Authenticator(["alice=plain-text-password"], "loopback"), {
    message: 'broker.users: entry 1 is not LOGIN:scrypt$...; make the hash with deploykit broker hash-password',
  });
  t.throws(() => new Authenticator(["alice:plain-text-password"], "loopback"), { message: /"alice" is not LOGIN:scrypt/ });
  t.throws(() => new Authenticator([`:${good}`], "loopback"), { message: /entry 1 is not LOGIN:scrypt/ });
  const [, , , , salt, hash] = good.split("$");
  for (const damaged of [`scrypt$abc$8$1$${salt}$${hash}`, `scrypt$1000$8$1$${salt}$${hash}`, `scrypt$1024$0$1$${salt}$${hash}`, `scrypt$1024$8$1$${salt}$`]) {
    t.throws(() => new Authenticator([`carol:${damaged}`], "loopback"), { message: /the hash of "carol" is damaged/ }, damaged);
  }
  t.throws(() => new Authenticator([], "none"), { message: /broker\.anonymous is none and broker\.users is empty/ });
});
