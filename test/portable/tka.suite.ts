// Tailnet-lock signatures under Node and QuickJS alike (the router's runtime,
// big-endian MIPS included): one vector of tailscale's tka package (made by
// test/peers/tka-vectors; the full set and tailscale's verdicts are in
// test/control/tka.test.ts): a rotation signature byte for byte as
// tka.ResignNKS makes it, and verified against the lock key.
import { hex, eq, suite } from "./check.js";
import { nlKeyFromText, nlPublicText, parseNKS, resignNKS, verifyNKS } from "../../agent/src/control/tka.js";
import { toHex } from "../../agent/src/util/bytes.js";

const ROUTER_NL = "nlpriv:2222222222222222222222222222222222222222222222222222222222222222a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0";
const LOCK_PUBLIC = "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737";
const NODE_KEY_1 = "4141414141414141414141414141414141414141414141414141414141414141";
const DIRECT = "a501010258226e704040404040404040404040404040404040404040404040404040404040404040035820d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c97787370458400c4921ef09f425d272f26e37dffbfd849a912c53dbde77016960f352998dd6f4ced6e70eeb7a6eaba583b437c8ba77ece6148c732107bd25887aa02c8969f604065820a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0";
const ROTATION_1 = "a401020258226e704141414141414141414141414141414141414141414141414141414141414141045840d9a94db7cc22228d9480af82f81e67c59d4b0f785163a4e2cf52bda0d2b1c4bb38572596503a77cb28b9c31b17f8c60e1fd11a9df4d6cc177a8c8ea8bf02220805a501010258226e704040404040404040404040404040404040404040404040404040404040404040035820d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c97787370458400c4921ef09f425d272f26e37dffbfd849a912c53dbde77016960f352998dd6f4ced6e70eeb7a6eaba583b437c8ba77ece6148c732107bd25887aa02c8969f604065820a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0";

suite("tailnet lock", (check) => {
  check("the router's NLKey and a rotation signature as tka.ResignNKS makes it", () => {
    const nl = nlKeyFromText(ROUTER_NL);
    eq(nlPublicText(nl.public), "nlpub:a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0", "NLKey");
    const sig = resignNKS(nl, hex(NODE_KEY_1), hex(DIRECT));
    eq(toHex(sig), ROTATION_1, "rotation signature");
    eq(verifyNKS(parseNKS(sig), hex(NODE_KEY_1), [hex(LOCK_PUBLIC)]), undefined, "verified");
    eq(verifyNKS(parseNKS(sig), hex(NODE_KEY_1), [hex(NODE_KEY_1)]), "nested: key not found", "untrusted lock key");
  });
});
