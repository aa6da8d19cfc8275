import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Field names that may carry personal data or secrets, wherever they sit in a log object. Logs are copied
 * to places the database's keys never reach, so these are removed rather than trusted to be absent.
 */
export const REDACTED_FIELDS = [
  'email',
  'name',
  'displayName',
  'nickname',
  'room',
  'ssid',
  'ip',
  'mac',
  'serial',
  'phone',
  'address',
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'accessToken',
  'refreshToken',
  'secret',
  'code',
  'height',
  'weight',
  'birthDate',
  'sex',
  'gender',
];

/** Headers that carry credentials or the client's address, redacted wherever a log object copies them. */
const REDACTED_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-forwarded-for',
  'x-real-ip',
  'forwarded',
];

const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-forwarded-for"]',
  'req.remoteAddress',
  'res.headers["set-cookie"]',
  ...REDACTED_FIELDS,
  ...REDACTED_FIELDS.map((field) => `*.${field}`),
  ...REDACTED_FIELDS.map((field) => `*.*.${field}`),
  ...REDACTED_HEADERS.flatMap((header) => [`["${header}"]`, `*["${header}"]`, `*.*["${header}"]`]),
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: redactPaths, censor: '[redacted]' },
      // Request paths carry ids only; query strings may not (an e-mail filter, an OAuth code), so they are
      // dropped. Client addresses are personal data and are not logged.
      serializers: {
        req: (req: { method: string; url: string; id: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url.split('?', 1)[0],
        }),
      },
    },
    destination,
  );
}

export type { Logger };
