// Entry for running the portable suites in meshwrt's own runtime (the
// QuickJS build that ships): prints the outcomes as one JSON line.
import "../../agent/src/host/polyfills.js";
import { native } from "../../agent/src/host/native.js";
import { utf8Encode } from "../../agent/src/util/utf8.js";
import { runAll } from "./all.js";

const n = native();
void runAll().then((o) => {
  n.write(1, utf8Encode(`${JSON.stringify(o)}\n`));
  n.exit(0);
});
