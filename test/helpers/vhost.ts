/*
 * What the hand-made vhost-user front-ends of the tests share: little-endian
 * fields as the protocol and the virtio rings lay them out.
 */

export const MB = 1 << 20;

/** Concatenates little-endian fields of 2, 4 or 8 bytes. */
export function le(...fields: [2 | 4 | 8, number | bigint][]): Uint8Array {
  const out: number[] = [];
  for (const [w, v] of fields) {
    let x = BigInt(v);
    for (let i = 0; i < w; i++) {
      out.push(Number(x & 0xffn));
      x >>= 8n;
    }
  }
  return new Uint8Array(out);
}
