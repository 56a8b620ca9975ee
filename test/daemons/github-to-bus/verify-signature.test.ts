import test from "ava";
import { hmacSha256Hex, signatureMatches, tokenMatches } from "../../../daemons/github-to-bus/verify-signature.ts";

// GitHub's documented test vector ("Validating webhook deliveries").
const secret = "It's a Secret to Everybody";
const payload = Buffer.from("Hello, World!");
const expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

test("HMAC-SHA256 over the raw bytes matches GitHub's documented example", (t) => {
  t.is(hmacSha256Hex(secret, payload), expected);
  t.true(signatureMatches(secret, payload, expected));
  t.true(signatureMatches(secret, payload, expected.toUpperCase()), "hex case does not matter");
});

test("a signature from another secret, of other bytes, truncated or not hex does not match", (t) => {
  t.false(signatureMatches("another", payload, expected));
  t.false(signatureMatches(secret, Buffer.from("Hello, World! "), expected));
  t.false(signatureMatches(secret, payload, expected.slice(0, 63)));
  t.false(signatureMatches(secret, payload, `${expected}00`));
  t.false(signatureMatches(secret, payload, `sha256=${expected}`), "the prefix is the caller's to strip");
  t.false(signatureMatches(secret, payload, "z".repeat(64)));
  t.false(signatureMatches(secret, payload, undefined));
  t.false(signatureMatches(secret, payload, ""));
});

test("tokens compare exactly, whatever their lengths", (t) => {
  t.true(tokenMatches("s3cret-token", "s3cret-token"));
  t.false(tokenMatches("s3cret-token", "s3cret-toke"));
  t.false(tokenMatches("s3cret-token", "s3cret-token "));
  t.false(tokenMatches("s3cret-token", ""));
  t.false(tokenMatches("s3cret-token", undefined));
  t.false(tokenMatches("ä", "a"));
});
