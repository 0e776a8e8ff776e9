// The machine, node and disco keys, the tailnet-lock key and the node-key
// signature, kept in the state directory. The file is written only when one
// of them changes: router flash wears.
import { keyFromText, keyPairFromSeed, type KeyPair, keyToText } from "../crypto/keys.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { nlKeyFromSeed, nlKeyFromText, type NLKeyPair, nlPrivateText, resignNKS } from "./tka.js";

export interface Keys {
  readonly machine: KeyPair;
  readonly node: KeyPair;
  readonly disco: KeyPair;
  /** The node key we had before a rotation, sent once as OldNodeKey. */
  readonly oldNodePublic?: Uint8Array;
  /** The server took this node key (a register answered without a login URL): later registrations carry no auth key. */
  readonly registered?: boolean;
  /** Our tailnet-lock key (files from before it get one at the next start). */
  readonly nl?: NLKeyPair;
  /** The node-key signature of the current node key, when the tailnet is locked (CBOR, as tka writes it). */
  readonly nodeKeySignature?: Uint8Array;
}

interface KeysFile {
  machine: string;
  node: string;
  disco: string;
  oldNode?: string;
  registered?: boolean;
  nl?: string;
  nodeKeySignature?: string;
}

export function newKeys(random: (n: number) => Uint8Array): Keys {
  return { machine: keyPairFromSeed(random(32)), node: keyPairFromSeed(random(32)), disco: keyPairFromSeed(random(32)), nl: nlKeyFromSeed(random(32)) };
}

/**
 * A new node key, the old one kept to be sent once as OldNodeKey. In a locked tailnet the
 * signature of the old key (ours, or the one the server asks to re-sign) is re-signed for the
 * new key with our tailnet-lock key, as tailscale's client does (tka.ResignNKS).
 */
export function rotateNodeKey(k: Keys, random: (n: number) => Uint8Array, oldSignature = k.nodeKeySignature): Keys {
  const { registered: _old, nodeKeySignature: _sig, ...rest } = k;
  const node = keyPairFromSeed(random(32));
  const signature = oldSignature && k.nl ? resignNKS(k.nl, node.publicKey, oldSignature) : undefined;
  return { ...rest, node, oldNodePublic: k.node.publicKey, ...(signature ? { nodeKeySignature: signature } : {}) };
}

export function encodeKeys(k: Keys): string {
  const f: KeysFile = {
    machine: keyToText("privkey", k.machine.privateKey),
    node: keyToText("privkey", k.node.privateKey),
    disco: keyToText("privkey", k.disco.privateKey),
    ...(k.oldNodePublic ? { oldNode: keyToText("nodekey", k.oldNodePublic) } : {}),
    ...(k.registered ? { registered: true } : {}),
    ...(k.nl ? { nl: nlPrivateText(k.nl) } : {}),
    ...(k.nodeKeySignature ? { nodeKeySignature: bytesToHex(k.nodeKeySignature) } : {}),
  };
  return `${JSON.stringify(f, null, 1)}\n`;
}

export function decodeKeys(text: string): Keys {
  let f: KeysFile;
  try {
    f = JSON.parse(text) as KeysFile;
  } catch {
    throw new Error("keys file: not JSON");
  }
  const pair = (v: unknown, what: string) => {
    if (typeof v !== "string") throw new Error(`keys file: ${what} missing`);
    return keyPairFromSeed(keyFromText("privkey", v));
  };
  return {
    machine: pair(f.machine, "machine key"),
    node: pair(f.node, "node key"),
    disco: pair(f.disco, "disco key"),
    ...(f.oldNode ? { oldNodePublic: keyFromText("nodekey", f.oldNode) } : {}),
    // Files from before this field: the node registers once more with the auth key, as it always did.
    ...(f.registered === true ? { registered: true } : {}),
    ...(typeof f.nl === "string" ? { nl: nlKeyFromText(f.nl) } : {}),
    ...(typeof f.nodeKeySignature === "string" && /^([0-9a-f]{2})+$/.test(f.nodeKeySignature) ? { nodeKeySignature: hexToBytes(f.nodeKeySignature) } : {}),
  };
}
