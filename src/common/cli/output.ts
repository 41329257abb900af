/** How the admin tool prints rows: an aligned table, JSON or CSV. */
export type OutputFormat = 'pretty' | 'json' | 'csv';

export type Row = Record<string, unknown>;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Renders rows with the given columns. */
export function renderRows(rows: Row[], columns: string[], format: OutputFormat, headers = true): string {
  if (format === 'json') return JSON.stringify(rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? null]))), null, 2);
  if (format === 'csv') {
    const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = rows.map((r) => columns.map((c) => esc(cell(r[c]))).join(','));
    return (headers ? [columns.join(','), ...lines] : lines).join('\n');
  }
  const table = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(headers ? c.length : 0, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]) => cells.map((s, i) => s.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = table.map(line);
  return (headers ? [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...out] : out).join('\n');
}

/** Renders one object as `key: value` lines (or JSON). */
export function renderObject(obj: Row, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(obj, null, 2);
  const width = Math.max(...Object.keys(obj).map((k) => k.length));
  return Object.entries(obj).map(([k, v]) => `${k.padEnd(width)}: ${cell(v)}`).join('\n');
}

/** Parses `-o a,b,c` against the columns a listing offers. */
export function pickColumns(requested: string | undefined, available: string[], defaults: string[]): string[] {
  if (!requested) return defaults;
  const cols = requested.split(',').map((c) => c.trim()).filter(Boolean);
  const bad = cols.filter((c) => !available.includes(c));
  if (bad.length) throw new Error(`unknown column(s) ${bad.join(', ')}; available: ${available.join(', ')}`);
  return cols;
}
