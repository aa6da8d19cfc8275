/**
 * What a domain service throws when a request cannot be honoured for a reason the caller should hear. The
 * adapters map `kind` to their own terms (an HTTP status, a CLI exit code). The message is shown to the
 * caller, so it must never contain personal data or secrets.
 */
export const DOMAIN_ERROR_KINDS = [
  'invalid', // 400: the input is well-formed but not acceptable (weak password, wrong current password)
  'unauthenticated', // 401: credentials missing, wrong or expired
  'forbidden', // 403: authenticated but not allowed (e.g. an unverified account pairing a device)
  'not_found', // 404
  'conflict', // 409: the state does not allow this now
  'gone', // 410: a link or code that has expired or was used
  'rate_limited', // 429: carries retryAfterSeconds
  'unavailable', // 503: a dependency is down; carries retryAfterSeconds when known
  'timeout', // 504: a device or dependency did not answer in time
] as const;
export type DomainErrorKind = (typeof DOMAIN_ERROR_KINDS)[number];

export interface DomainErrorOptions {
  /** A stable identifier clients can branch on, e.g. `password-reset-required`; becomes the problem type. */
  code?: string;
  retryAfterSeconds?: number;
  /** Per-field reasons for `invalid` (never the values themselves); `in` defaults to the body. */
  fields?: Array<{ in?: 'body' | 'query' | 'path'; pointer: string; detail: string }>;
  /** Extra members for the problem document (ids only, never personal data), e.g. `{ commandId }`. */
  extensions?: Record<string, string | number | boolean>;
}

export class DomainError extends Error {
  override name = 'DomainError';
  readonly kind: DomainErrorKind;
  readonly code: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly fields: DomainErrorOptions['fields'];
  readonly extensions: DomainErrorOptions['extensions'];

  constructor(kind: DomainErrorKind, message: string, options: DomainErrorOptions = {}) {
    super(message);
    this.kind = kind;
    this.code = options.code;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.fields = options.fields;
    this.extensions = options.extensions;
  }
}
