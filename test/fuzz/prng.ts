// Seeded randomness for the fuzz loops (xorshift32), so that a failure repeats.

export type Rnd = () => number;

export function prng(seed: number): Rnd {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** An integer in [0, n). */
export const below = (rnd: Rnd, n: number): number => Math.floor(rnd() * n);

export const pick = <T>(rnd: Rnd, list: readonly T[]): T => list[below(rnd, list.length)]!;
