import test from "ava";
import { isValidRef, name, sha } from "../../../shared/messages/fields.ts";

test("refs git accepts are valid", (t) => {
  for (const ref of ["main", "refs/heads/main", "refs/tags/v2.3.1", "feature/x-y_z", "release-2026.11"]) t.true(isValidRef(ref), ref);
});

test("refs git refuses, and option-looking refs, are invalid", (t) => {
  const bad = [
    "",
    "-rf",
    "--upload-pack=touch /tmp/pwned",
    "a..b",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[",
    "a\\b",
    "refs/heads/",
    "/main",
    "main.lock",
    "main.",
    ".hidden",
    "refs/.x",
    "a//b",
    "a@{1}",
    "@",
    "a\u0000b",
    "tab\there",
    "x".repeat(256),
  ];
  for (const ref of bad) t.false(isValidRef(ref), JSON.stringify(ref));
});

test("names are lowercase identifiers that cannot be options or paths", (t) => {
  t.true(name.safeParse("shop-api.v2_x").success);
  for (const bad of ["-x", ".x", "Shop", "a/b", "a b", ""]) t.false(name.safeParse(bad).success, bad);
});

test("a sha is a full hex object id", (t) => {
  t.true(sha.safeParse("a".repeat(40)).success);
  t.true(sha.safeParse("b".repeat(64)).success);
  for (const bad of ["abc123", "A".repeat(40), "g".repeat(40), "a".repeat(41)]) t.false(sha.safeParse(bad).success, bad);
});
