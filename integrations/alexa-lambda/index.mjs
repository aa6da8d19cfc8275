// The Alexa Smart Home skill's Lambda (Node.js 20 or newer runtime): forwards every directive, as it
// came, to Hearth's POST /v1/alexa/directives and returns Hearth's answer. The access token travels
// inside the directive, so this function holds no secret and keeps no state. Deploy notes: README.md,
// "Alexa: the skill's Lambda".

import { randomUUID } from 'node:crypto';

/** Alexa gives up after 8 s; answering a little before leaves room for the ErrorResponse below. */
const TIMEOUT_MS = 7_000;

export async function handler(event) {
  const url = process.env.HEARTH_DIRECTIVES_URL;
  if (!url) {
    console.error('HEARTH_DIRECTIVES_URL is not set');
    return errorResponse(event, 'the skill is not configured');
  }
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (response.ok) return await response.json();
    // Only the status: the body could quote the directive, which carries the person's token.
    console.error(`Hearth answered ${response.status}`);
  } catch (error) {
    console.error(`Hearth could not be reached: ${error?.name ?? 'error'}`);
  }
  return errorResponse(event, 'Hearth could not be reached');
}

/** Alexa's own answer for a cloud it cannot reach: BRIDGE_UNREACHABLE (ACCEPT_GRANT_FAILED for AcceptGrant). */
function errorResponse(event, message) {
  const directive = event?.directive ?? {};
  const acceptGrant = directive.header?.namespace === 'Alexa.Authorization';
  const correlationToken = directive.header?.correlationToken;
  const endpointId = directive.endpoint?.endpointId;
  return {
    event: {
      header: {
        namespace: acceptGrant ? 'Alexa.Authorization' : 'Alexa',
        name: 'ErrorResponse',
        messageId: randomUUID(),
        ...(correlationToken ? { correlationToken } : {}),
        payloadVersion: '3',
      },
      ...(endpointId ? { endpoint: { endpointId } } : {}),
      payload: { type: acceptGrant ? 'ACCEPT_GRANT_FAILED' : 'BRIDGE_UNREACHABLE', message },
    },
  };
}
