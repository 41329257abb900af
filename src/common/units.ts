/** The largest limit: Synnefo's "practically infinite", as large as JavaScript counts exactly. */
export const INFINITE = Number.MAX_SAFE_INTEGER;

const FACTORS: Record<string, number> = { '': 1, B: 1, BYTES: 1, K: 2 ** 10, KB: 2 ** 10, KIB: 2 ** 10, M: 2 ** 20, MB: 2 ** 20, MIB: 2 ** 20, G: 2 ** 30, GB: 2 ** 30, GIB: 2 ** 30, T: 2 ** 40, TB: 2 ** 40, TIB: 2 ** 40, P: 2 ** 50, PB: 2 ** 50, PIB: 2 ** 50 };

/** Parses a quantity as operators write it: `12`, `40G` (binary units), `512MiB`, `inf`. */
export function parseQuantity(text: string): number {
  const t = text.trim();
  if (/^(inf|infinite|unlimited)$/i.test(t)) return INFINITE;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(t);
  const factor = m ? FACTORS[m[2]!.toUpperCase()] : undefined;
  if (!m || factor === undefined) throw new Error(`invalid quantity "${text}" (e.g. 10, 40G, 512M, inf)`);
  const value = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(value)) throw new Error(`quantity "${text}" is too large`);
  return value;
}

/** Shows a quantity for people: `inf`, or bytes in binary units when the resource counts bytes. */
export function showQuantity(value: number, unit: string): string {
  if (value >= INFINITE) return 'inf';
  if (unit !== 'bytes' || value === 0) return String(value);
  for (const [suffix, f] of [['P', 2 ** 50], ['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const) {
    if (value >= f && value % (f / 1024) === 0) return `${Number((value / f).toFixed(2))}${suffix}`;
  }
  return String(value);
}
