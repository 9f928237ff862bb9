/* Small formatting helpers shared by the tools (rates with K/M/G units, tables). */

/** pkt-gen's normalisation: value scaled by 1000s with 3 decimals and a K/M/G/T suffix (raw with normalize false). */
export function norm(v: number, normalize = true): string {
  if (!normalize) return `${v.toFixed(0)} `;
  const units = ['', 'K', 'M', 'G', 'T'];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(3)} ${units[i]}`;
}

/** Left-aligned columns separated by two spaces. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, (r[i] as string).length);
  }
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}
