/** Synnefo's timestamp form: UTC with microseconds and an explicit +00:00 offset. */
export function isoTime(ms: number): string {
  const d = new Date(ms);
  const base = d.toISOString().slice(0, 19);
  const micros = d.getUTCMilliseconds() * 1000;
  return micros ? `${base}.${String(micros).padStart(6, '0')}+00:00` : `${base}+00:00`;
}

export const SECOND = 1000;
export const HOUR = 3600 * SECOND;
export const DAY = 24 * HOUR;
