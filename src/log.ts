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

const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-forwarded-for"]',
  'req.remoteAddress',
  'res.headers["set-cookie"]',
  ...REDACTED_FIELDS,
  ...REDACTED_FIELDS.map((field) => `*.${field}`),
  ...REDACTED_FIELDS.map((field) => `*.*.${field}`),
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: redactPaths, censor: '[redacted]' },
      // Request URLs carry ids only; client addresses are personal data and are not logged.
      serializers: {
        req: (req: { method: string; url: string; id: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url,
        }),
      },
    },
    destination,
  );
}

export type { Logger };
