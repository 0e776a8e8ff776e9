// Entry for running the portable suites inside a QuickJS engine: the outcomes
// are left as JSON in a global for the host to read.
import { runAll } from "./all.js";

void runAll().then((o) => {
  (globalThis as { __outcomes?: string }).__outcomes = JSON.stringify(o);
});
