import test from "ava";
import { deployId } from "../../cli/deploy-id.ts";

test("deploy ids are accepted as 17 or #17, anything else is a usage error", (t) => {
  t.is(deployId("17"), 17);
  t.is(deployId(" #17 "), 17);
  for (const bad of ["0", "-1", "17a", "", "1e3", "99999999999999999"]) {
    const error = t.throws(() => deployId(bad), undefined, bad);
    t.regex(error?.message ?? "", /must be a number like 17/);
  }
});
