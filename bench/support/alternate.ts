/**
 * Runs two variants in strict alternation, A B A B … A (`rounds` runs of B between `rounds` + 1 runs of A), and
 * compares each run of B with the mean of the runs of A just before and just after it.
 *
 * Why this order: on this shared 2-core machine, the second of two back-to-back runs of the same server came out
 * 20–40% faster than a run after the other server (seen in every round where a server ran twice in a row), so an
 * order in which either variant ever runs twice in a row tilts the comparison. In strict alternation neither does,
 * and a steady drift of the machine's speed cancels out, B being measured between two runs of A.
 */
export async function alternate<T>(
  runA: () => Promise<T>,
  runB: () => Promise<T>,
  rounds: number,
  rate: (result: T) => number,
  onRound?: (round: number, a: T, b: T, ratio: number) => void,
): Promise<{ a: T[]; b: T[]; ratios: number[] }> {
  const a: T[] = [await runA()];
  const b: T[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    b.push(await runB());
    a.push(await runA());
    const ratio = rate(b[round]) / ((rate(a[round]) + rate(a[round + 1])) / 2);
    ratios.push(ratio);
    onRound?.(round, a[round + 1], b[round], ratio);
  }
  return { a, b, ratios };
}

/** The middle value; with an even count, the mean of the two middle values. */
export function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
