/*
 * Summary statistics for the bench runner: every figure is reported as the
 * median over rounds with its min and max, never a mean (a noisy VM makes a few
 * runs 2x slow; the median ignores them, the range shows them).
 */

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(xs: readonly number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n };
  const mid = n >> 1;
  const median = n % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { median, min: s[0] as number, max: s[n - 1] as number, n };
}

/** "12.3 (11.0–13.1)" with `digits` decimals. */
export function formatSummary(s: Summary, digits: number): string {
  if (s.n === 0) return '–';
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

export function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
