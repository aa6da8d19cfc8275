import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Alexa Smart Home payload version 3: the directive envelope as the skill's Lambda forwards it. */
export const directiveEnvelopeSchema = z.object({
  directive: z.object({
    header: z.object({
      namespace: z.string().min(1),
      name: z.string().min(1),
      messageId: z.string().min(1).max(127),
      correlationToken: z.string().min(1).optional(),
      payloadVersion: z.string(),
    }),
    endpoint: z
      .object({
        scope: z.object({ type: z.string(), token: z.string() }).partial().optional(),
        endpointId: z.string().min(1).max(256),
        cookie: z.record(z.string(), z.string()).optional(),
      })
      .optional(),
    payload: z.record(z.string(), z.unknown()).default({}),
  }),
});
export type Directive = z.infer<typeof directiveEnvelopeSchema>['directive'];

export interface AlexaProperty {
  namespace: string;
  name: string;
  value: unknown;
  /** ISO 8601 in UTC, ending in Z. */
  timeOfSample: string;
  uncertaintyInMilliseconds: number;
}

export interface AlexaHeader {
  namespace: string;
  name: string;
  messageId: string;
  correlationToken?: string;
  payloadVersion: '3';
}

/** A response or proactive event; `context` carries the endpoint's properties. */
export interface AlexaMessage {
  event: {
    header: AlexaHeader;
    endpoint?: { scope?: { type: 'BearerToken'; token: string }; endpointId: string };
    payload: Record<string, unknown>;
  };
  context?: { properties: AlexaProperty[] };
}

/** The error types we answer with; every one is a member of Alexa's `ErrorResponse` enum. */
export type AlexaErrorType =
  | 'NO_SUCH_ENDPOINT'
  | 'ENDPOINT_UNREACHABLE'
  | 'VALUE_OUT_OF_RANGE'
  | 'INVALID_VALUE'
  | 'INVALID_DIRECTIVE'
  | 'INVALID_AUTHORIZATION_CREDENTIAL'
  | 'EXPIRED_AUTHORIZATION_CREDENTIAL'
  | 'HARDWARE_MALFUNCTION'
  | 'ACCEPT_GRANT_FAILED'
  | 'INTERNAL_ERROR';

export interface AlexaFailure {
  type: AlexaErrorType;
  /** Safe to show and log: never a name, a token or a value the person gave. */
  message: string;
  validRange?: { minimumValue: number; maximumValue: number };
}

/** A fresh id for every message we send; Alexa's schema forbids echoing the directive's. */
export function header(namespace: string, name: string, correlationToken?: string | undefined): AlexaHeader {
  return {
    namespace,
    name,
    messageId: randomUUID(),
    ...(correlationToken ? { correlationToken } : {}),
    payloadVersion: '3',
  };
}

export function errorResponse(
  failure: AlexaFailure,
  directive: Pick<Directive, 'header' | 'endpoint'> | undefined,
): AlexaMessage {
  const namespace = failure.type === 'ACCEPT_GRANT_FAILED' ? 'Alexa.Authorization' : 'Alexa';
  const endpointId = directive?.endpoint?.endpointId;
  return {
    event: {
      header: header(namespace, 'ErrorResponse', directive?.header.correlationToken),
      ...(endpointId ? { endpoint: { endpointId } } : {}),
      payload: { ...failure },
    },
  };
}

export const failure = (
  type: AlexaErrorType,
  message: string,
  validRange?: AlexaFailure['validRange'],
): AlexaFailure => ({ type, message, ...(validRange ? { validRange } : {}) });
