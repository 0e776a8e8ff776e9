// The tailnet-lock vectors of tailscale's tka package (main.go, built and run once by
// vectors.sh, cached), and tailscale's own verdict on a node key and its signature.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

export interface TkaVectors {
  lockPrivate: string;
  lockPublic: string;
  routerNLPrivate: string;
  routerNLPublic: string;
  otherNLPrivate: string;
  /** Node public keys, hex; node key i+1 is rotated to from node key i. */
  nodeKeys: string[];
  /** `tailscale lock sign` of node key 0 with the lock key, the router's NLKey as rotation key (hex CBOR). */
  direct: string;
  directSigHash: string;
  /** tka.ResignNKS over node keys 1..17, each wrapping the one before (hex). */
  rotations: string[];
  /** The genesis AUM (hex) that trusts the lock key, and its hash as tailscale prints it. */
  genesisAUM: string;
  genesisAUMHash: string;
}

let cached: { bin: string; vectors: TkaVectors } | undefined;

export function tkaVectors(): { bin: string; vectors: TkaVectors } {
  if (cached) return cached;
  const script = fileURLToPath(new URL("./vectors.sh", import.meta.url));
  const bin = execFileSync("sh", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  cached = { bin, vectors: JSON.parse(readFileSync(`${dirname(bin)}/vectors.json`, "utf8")) as TkaVectors };
  return cached;
}

/** "ok" when tailscale's Authority, bootstrapped from the genesis AUM, accepts the signature (hex) for the node key (hex); else its error. */
export function tailscaleVerdict(nodeKeyHex: string, signatureHex: string): string {
  const { bin, vectors } = tkaVectors();
  return execFileSync(bin, ["verify", vectors.genesisAUM, nodeKeyHex, signatureHex], { encoding: "utf8" }).trim();
}
