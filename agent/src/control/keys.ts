// The machine, node and disco keys, kept in the state directory. The file
// is written only when a key changes: router flash wears.
import { keyFromText, keyPairFromSeed, type KeyPair, keyToText } from "../crypto/keys.js";

export interface Keys {
  readonly machine: KeyPair;
  readonly node: KeyPair;
  readonly disco: KeyPair;
  /** The node key we had before a rotation, sent once as OldNodeKey. */
  readonly oldNodePublic?: Uint8Array;
  /** The server took this node key (a register answered without a login URL): later registrations carry no auth key. */
  readonly registered?: boolean;
}

interface KeysFile {
  machine: string;
  node: string;
  disco: string;
  oldNode?: string;
  registered?: boolean;
}

export function newKeys(random: (n: number) => Uint8Array): Keys {
  return { machine: keyPairFromSeed(random(32)), node: keyPairFromSeed(random(32)), disco: keyPairFromSeed(random(32)) };
}

export function rotateNodeKey(k: Keys, random: (n: number) => Uint8Array): Keys {
  const { registered: _old, ...rest } = k;
  return { ...rest, node: keyPairFromSeed(random(32)), oldNodePublic: k.node.publicKey };
}

export function encodeKeys(k: Keys): string {
  const f: KeysFile = {
    machine: keyToText("privkey", k.machine.privateKey),
    node: keyToText("privkey", k.node.privateKey),
    disco: keyToText("privkey", k.disco.privateKey),
    ...(k.oldNodePublic ? { oldNode: keyToText("nodekey", k.oldNodePublic) } : {}),
    ...(k.registered ? { registered: true } : {}),
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
  };
}
