import { pino, stdSerializers, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths whose values never reach the log, whoever logs them. */
const REDACT = [
  'password', '*.password', 'token', '*.token', 'auth_token', '*.auth_token', 'secret', '*.secret',
  'req.headers["x-auth-token"]', 'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]',
];

/** The process logger: JSON lines, secrets redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      err: stdSerializers.err,
    },
  }, destination);
}

/**
 * A URL fit for the log: token-bearing path segments and query values are masked
 * (`/tokens/<token>`, `?X-Auth-Token=`, verification and reset codes).
 */
export function redactUrl(url: string): string {
  const [path, query] = splitOnce(url, '?');
  const safePath = path.replace(/(\/tokens\/)[^/?]+/i, '$1[redacted]');
  if (query === undefined) return safePath;
  const safeQuery = query.split('&').map((pair) => {
    const [k] = splitOnce(pair, '=');
    return /token|code|password|secret|key/i.test(k) ? `${k}=[redacted]` : pair;
  }).join('&');
  return `${safePath}?${safeQuery}`;
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}
