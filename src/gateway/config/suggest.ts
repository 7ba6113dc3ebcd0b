// "Did you mean ...?" for unknown config fields: the closest known name by edit distance, after
// ignoring case, '_' and '-' (so hold_time, holdtime and hold-time all find holdTime).

const normalize = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');

/** Optimal string alignment distance: Levenshtein plus transposition of neighbours. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name `unknown` most likely meant, or undefined when none is close. */
export function suggestField(unknown: string, known: readonly string[]): string | undefined {
  const u = normalize(unknown);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const dist = editDistance(u, normalize(name));
    const limit = Math.min(2, Math.floor(name.length / 3));
    if (dist <= limit && dist < bestDistance) {
      best = name;
      bestDistance = dist;
    }
  }
  return best;
}
