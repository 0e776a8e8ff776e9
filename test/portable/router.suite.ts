// The router's answers to the kernel's refusals, with the link a double in memory
// (memory-kernel.ts): a refused addition is said once and not asked for again until
// a reconcile, the others still go in; a failed removal fails the change and makes
// the next one read the link back.
import { parsePrefix } from "../../agent/src/netaddr/ip.js";
import type { RouteSpec } from "../../agent/src/netlink/route.js";
import { Router } from "../../agent/src/router/router.js";
import { MemoryLink } from "./memory-kernel.js";
import { eq, suite } from "./check.js";

/** The link double, refusing routes of IPv6 (as a router with IPv6 off does) and failing removals while asked to. */
class RefusingLink extends MemoryLink {
  failRemovals = false;
  override async addRoute(r: RouteSpec): Promise<void> {
    if (r.dst.ip.length === 16) {
      this.requests++;
      throw new Error("add route: EACCES (double)");
    }
    return super.addRoute(r);
  }
  override async removeRoute(r: RouteSpec): Promise<void> {
    if (this.failRemovals) {
      this.requests++;
      throw new Error("remove route: EBUSY (double)");
    }
    return super.removeRoute(r);
  }
}

suite("router", (check) => {
  check("a refused route is said once and not asked for again until a reconcile; the others go in", async () => {
    const link = new RefusingLink(5);
    const notes: string[] = [];
    const router = new Router(link, 5, (subject, msg) => notes.push(`${subject}: ${msg}`));
    const want = { addresses: [parsePrefix("100.64.0.1/32")], routes: new Set(["100.64.0.2/32", "fd7a:115c:a1e0::/48", "192.168.50.0/24"]) };
    eq(await router.set(want), 4, "requests: the address and three routes");
    eq(link.text(), "address 100.64.0.1/32\nroute 100.64.0.2/32\nroute 192.168.50.0/24", "the link");
    eq(notes.join("\n"), "route fd7a:115c:a1e0::/48: add route: EACCES (double); other routes still apply", "said once");
    const before = link.requests;
    eq(await router.set(want), 0, "the refused route is not asked for again");
    eq(link.requests, before, "no request");
    await router.reconcile();
    eq(link.requests - before, 1, "a reconcile asks again");
  });
  check("a failed removal fails the change, and the next change reads the link back", async () => {
    const link = new RefusingLink(5);
    const router = new Router(link, 5, () => {});
    await router.set({ addresses: [], routes: new Set(["100.64.0.2/32", "100.64.0.3/32"]) });
    link.failRemovals = true;
    let failed = "";
    await router.set({ addresses: [], routes: new Set(["100.64.0.2/32"]) }).catch((e: Error) => (failed = e.message));
    eq(failed, "remove route: EBUSY (double)", "the error");
    eq(router.needsReconcile, true, "stale");
    link.failRemovals = false;
    eq(await router.set({ addresses: [], routes: new Set(["100.64.0.2/32"]) }), 1, "the removal, after a dump");
    eq(link.text(), "route 100.64.0.2/32", "the link");
    eq(router.needsReconcile, false, "read back");
  });
});
