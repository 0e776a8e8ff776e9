// Small byte strings kept for a long time (keys, addresses), cut from shared
// buffers: in QuickJS a Uint8Array with a buffer of its own costs ~400 bytes,
// a view of a shared one ~190, and the agent keeps a few per peer.

const SLAB_BYTES = 4096;

let slab = new Uint8Array(0);
let used = 0;

/**
 * A copy of `b` in a shared buffer. A buffer is freed once none of its views is left, so
 * a few bytes that outlive their neighbours keep at most 4 KB.
 */
export function slabCopy(b: Uint8Array): Uint8Array {
  if (b.length > SLAB_BYTES / 8) return b.slice();
  if (used + b.length > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    used = 0;
  }
  const out = slab.subarray(used, (used += b.length));
  out.set(b);
  return out;
}
