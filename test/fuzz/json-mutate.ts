// Mutants of parsed JSON: valid JSON with the wrong types and values, which
// is what a buggy or hostile control server sends (its bytes are checked by
// the transport, its meaning only by us).
import { below, pick, type Rnd } from "./prng.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const ODD: Json[] = [null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 31), 1e308, "", "x", "nodekey:zz", "100.64.0.1/32", "::/0", "127.3.3.40:999", "*", [], {}, [null], [1, "a"], { a: 1 }, { ID: "1" }];

/** Every container slot in `v`: [parent, key] pairs, the root excluded. */
function slots(v: Json, out: [Json[] | Record<string, Json>, string | number][] = []): typeof out {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out)));
  else if (v && typeof v === "object") for (const k of Object.keys(v)) out.push([v, k]), slots(v[k]!, out);
  return out;
}

function randomSubtree(rnd: Rnd, seeds: readonly unknown[]): Json {
  const all = slots(structuredClone(pick(rnd, seeds)) as Json);
  if (!all.length) return null;
  const [p, k] = pick(rnd, all);
  return (p as Record<string, Json>)[k as string]!;
}

function once(rnd: Rnd, root: Json, seeds: readonly unknown[]): Json {
  const all = slots(root);
  if (!all.length || rnd() < 0.03) return pick(rnd, ODD);
  const [p, k] = pick(rnd, all);
  const obj = p as Record<string, Json>;
  const key = k as string;
  switch (below(rnd, 6)) {
    case 0:
      obj[key] = structuredClone(pick(rnd, ODD));
      break;
    case 1:
      obj[key] = randomSubtree(rnd, seeds);
      break;
    case 2:
      if (Array.isArray(p)) p.splice(k as number, 1);
      else delete obj[key];
      break;
    case 3:
      obj[key] = [obj[key]!];
      break;
    case 4:
      if (Array.isArray(p)) p.push(structuredClone(p[k as number]!));
      else obj[`${key}${below(rnd, 3) ? "" : "2"}`] = randomSubtree(rnd, seeds);
      break;
    default:
      if (typeof obj[key] === "number") obj[key] = pick(rnd, [-1, 0, 2 ** 32, 0.5, -0]);
      else if (typeof obj[key] === "string") obj[key] = (obj[key] as string).slice(0, below(rnd, 12));
      else obj[key] = null;
  }
  return root;
}

export function mutateJson(rnd: Rnd, seed: unknown, seeds: readonly unknown[]): unknown {
  let v = structuredClone(seed) as Json;
  for (let k = 1 + below(rnd, 3); k > 0; k--) v = once(rnd, v, seeds);
  return v;
}
