import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { DomainError, type DomainErrorKind } from '../domain-error.js';

/**
 * RFC 9457 problem details. Every error the API answers with has this shape and the content type
 * `application/problem+json`, so clients need one error parser.
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** `about:blank` means "nothing beyond the HTTP status"; other types are ours and documented here. */
export const PROBLEM_TYPES = {
  plain: 'about:blank',
  invalidRequest: '/problems/invalid-request',
} as const;

const fieldErrorSchema = z.object({
  in: z.enum(['body', 'query', 'path', 'header']).describe('Which part of the request holds the field.'),
  pointer: z.string().describe('JSON Pointer to the field within that part, e.g. /email.'),
  detail: z.string().describe('Why the value is not accepted (the value itself is never repeated).'),
});

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().describe('The request id as a URN; quote it when reporting a problem.'),
    errors: z.array(fieldErrorSchema).optional(),
  })
  // Some problems also name the ids they concern, e.g. commandId.
  .catchall(z.unknown());

export type FieldError = z.infer<typeof fieldErrorSchema>;
export type Problem = z.infer<typeof problemSchema>;

/** The OpenAPI description of an error response, for routes to list under their `response` schemas. */
export const problemResponse = (description: string) => ({
  description,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } },
});

/**
 * An error whose status and detail were written for clients. Only these (and the fixed texts below) reach a
 * response; any other error's message stays in the logs, since it may carry internals or personal data.
 */
export class HttpProblem extends Error {
  readonly status: number;
  readonly detail: string;
  readonly type: string;
  readonly title: string;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  /** Extra members of the problem document: ids only, never personal data. */
  readonly extensions: Record<string, string | number | boolean>;

  constructor(
    status: number,
    detail: string,
    options: {
      type?: string;
      title?: string;
      errors?: FieldError[];
      headers?: Record<string, string>;
      extensions?: Record<string, string | number | boolean>;
    } = {},
  ) {
    super(detail);
    this.name = 'HttpProblem';
    this.status = status;
    this.detail = detail;
    this.type = options.type ?? PROBLEM_TYPES.plain;
    this.title = options.title ?? statusTitle(status);
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

/** Fastify's own request errors, with details that never quote the request. */
const FASTIFY_ERROR_DETAILS: Record<string, (request: FastifyRequest) => string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => 'The request body is not valid JSON.',
  FST_ERR_CTP_EMPTY_JSON_BODY: () => 'The request body is empty but its content type says JSON.',
  FST_ERR_CTP_BODY_TOO_LARGE: (request) =>
    `The request body is larger than the limit of ${request.routeOptions.bodyLimit} bytes.`,
  // Only the OAuth scopes parse forms: there, JSON is the wrong advice.
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (request) =>
    request.server.hasContentTypeParser('application/x-www-form-urlencoded')
      ? 'This media type is not accepted; send the body as a form (application/x-www-form-urlencoded).'
      : 'This media type is not accepted; send the body as application/json.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => 'The request body does not match its Content-Length.',
  FST_ERR_BAD_URL: () => 'The request path is not valid: it has a malformed percent-encoding.',
  FST_ERR_MAX_PARAM_LENGTH: (request) =>
    `A segment of the request path is longer than the limit of ${request.server.initialConfig.maxParamLength ?? 100} characters.`,
};

/** For 4xx errors from plugins whose messages we did not write. */
const GENERIC_DETAILS: Record<number, string> = {
  400: 'The request is not valid.',
  401: 'Authentication is required.',
  403: 'This action is not allowed.',
  404: 'Nothing exists at this address.',
  405: 'This address does not accept this method.',
  413: 'The request body is too large.',
  415: 'This media type is not accepted.',
  429: 'Too many requests; retry later.',
};

const INTERNAL_DETAIL = 'Something went wrong on our side. If it keeps happening, report the instance id.';

const VALIDATION_LOCATIONS: Record<string, FieldError['in']> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
};

/** Builds the validation problem from Fastify's validation error (zod issues or Ajv errors alike). */
function validationProblem(error: FastifyError): HttpProblem {
  const location = VALIDATION_LOCATIONS[error.validationContext ?? 'body'] ?? 'body';
  const errors = (error.validation ?? []).map((issue) => ({
    in: location,
    pointer: issue.instancePath || '/',
    detail: issue.message ?? 'is not valid',
  }));
  return new HttpProblem(400, 'The request has invalid fields; see errors.', {
    type: PROBLEM_TYPES.invalidRequest,
    errors,
  });
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && ('code' in error || 'statusCode' in error || 'validation' in error);
}

const DOMAIN_STATUS: Record<DomainErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  rate_limited: 429,
  unavailable: 503,
  timeout: 504,
};

/** A domain refusal as a problem; its message was written for the caller (see DomainError). */
export function domainProblem(error: DomainError): HttpProblem {
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  }
  if (error.kind === 'unauthenticated') headers['www-authenticate'] = 'Bearer realm="hearth"';
  return new HttpProblem(DOMAIN_STATUS[error.kind], error.message, {
    ...(error.code ? { type: `/problems/${error.code}` } : {}),
    ...(error.fields ? { errors: error.fields.map((field) => ({ in: 'body' as const, ...field })) } : {}),
    ...(error.extensions ? { extensions: error.extensions } : {}),
    headers,
  });
}

/** Maps any thrown value to the problem the client sees. A 5xx result means the error was not expected. */
export function toProblem(error: unknown, request: FastifyRequest): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof DomainError) return domainProblem(error);
  if (!isFastifyError(error)) return new HttpProblem(500, INTERNAL_DETAIL);
  if (error.validation) return validationProblem(error);
  const status = error.statusCode ?? 500;
  if (status < 400 || status >= 500) return new HttpProblem(500, INTERNAL_DETAIL);
  const known = error.code ? FASTIFY_ERROR_DETAILS[error.code] : undefined;
  const detail = known?.(request) ?? GENERIC_DETAILS[status] ?? 'The request could not be processed.';
  // Plugins put headers such as Retry-After on their errors; they are set by code, not by the client.
  const headers = (error as { headers?: Record<string, string> }).headers;
  return new HttpProblem(status, detail, headers ? { headers } : {});
}

export function sendProblem(reply: FastifyReply, problem: HttpProblem): FastifyReply {
  const body: Problem = {
    type: problem.type,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    instance: `urn:uuid:${reply.request.id}`,
    ...problem.extensions,
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
  // Sent as a string so that a route's own response schema cannot reshape or strip the problem.
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(body));
}

/**
 * What may be logged about an unexpected error: its class, code, message and stack. Other properties are
 * dropped because drivers attach the offending values there (pg's `detail` quotes the conflicting row).
 * Keys avoid `name` and `code`, which the logger redacts as personal fields.
 */
export function describeError(error: unknown, depth = 0): Record<string, unknown> {
  if (!(error instanceof Error)) return { class: typeof error };
  const code = (error as { code?: unknown }).code;
  return {
    class: error.constructor.name,
    ...(typeof code === 'string' ? { errorCode: code } : {}),
    message: error.message,
    stack: error.stack,
    ...(error.cause !== undefined && depth < 3 ? { cause: describeError(error.cause, depth + 1) } : {}),
  };
}

/**
 * Answers every error and unknown address with a problem. `allowedMethods` tells a wrong method on a known
 * path (405, with Allow) from an unknown path (404). `pageFallback` may answer an unknown address first
 * (the console's client-side routes) and returns undefined to leave it to the problem.
 */
export function registerProblemHandlers(
  app: FastifyInstance,
  allowedMethods: (path: string) => string[],
  pageFallback?: (request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined,
): void {
  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, request);
    if (problem.status >= 500 && !(error instanceof HttpProblem)) {
      request.log.error({ error: describeError(error) }, 'request failed');
    } else {
      // Only the status: messages and validation details may quote what the client sent. A deliberate 5xx
      // (an HttpProblem such as the health check's 503) was logged where it was decided.
      request.log.info(
        { status: problem.status, errorCode: (error as FastifyError).code },
        'request refused',
      );
    }
    return sendProblem(reply, problem);
  });

  app.setNotFoundHandler(async (request, reply) => {
    const page = pageFallback?.(request, reply);
    if (page) return page;
    const path = request.url.split('?', 1)[0] ?? '/';
    const allowed = allowedMethods(path);
    if (allowed.length > 0) {
      return sendProblem(
        reply,
        new HttpProblem(405, GENERIC_DETAILS[405] as string, { headers: { allow: allowed.join(', ') } }),
      );
    }
    return sendProblem(reply, new HttpProblem(404, GENERIC_DETAILS[404] as string));
  });
}
