// Every portable suite; each registers its cases on import.
import "./crypto.suite.js";
import "./netaddr.suite.js";
import "./netlink.suite.js";
import "./wg.suite.js";
import "./reconcile.suite.js";
import "./incremental.suite.js";
import "./activity.suite.js";
import "./route.suite.js";
import "./hpack.suite.js";
import "./netmap.suite.js";
import "./disco.suite.js";
import "./derp.suite.js";
import "./derp-lifetime.suite.js";
import "./derp-home.suite.js";
import "./direct-clock.suite.js";
import "./wanted.suite.js";
import "./uci.suite.js";
import "./bridge.suite.js";
import "./paths.suite.js";
import "./disco-manager.suite.js";
import "./replies.suite.js";
import "./wire.suite.js";
import "./peerapi.suite.js";
import "./expiry.suite.js";
import "./tka.suite.js";
import "./lifecycle.suite.js";

export { cases, runAll } from "./check.js";
