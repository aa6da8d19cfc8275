import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponse, failure } from '../../integrations/alexa/messages.js';
import type { Assistants } from '../../integrations/assistants.js';
import { authFailureBody } from '../../integrations/google/fulfillment.js';
import { IftttError } from '../../integrations/ifttt/service.js';
import { authenticateFor } from '../../integrations/linked-grant.js';
import { parseJsonAllowingEmpty } from '../json-body.js';
import { toProblem } from '../problem.js';

const BEARER = /^Bearer\s+(\S{1,1024})$/i;

function bearerToken(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}

const jsonObject = z.record(z.string(), z.unknown());
const slugParams = z.object({ slug: z.string().max(64) });
const fieldParams = slugParams.extend({ field: z.string().max(64) });

/** Runs an IFTTT handler and answers in IFTTT's own error format rather than problem+json. */
async function ifttt(reply: FastifyReply, handler: () => Promise<unknown>) {
  try {
    return await handler();
  } catch (error) {
    if (!(error instanceof IftttError)) throw error;
    return reply.code(error.status).send(error.body);
  }
}

/** Where IFTTT's endpoints live; the server also answers paths refused before routing there in its format. */
export const IFTTT_PREFIX = '/ifttt/v1/';

/**
 * A request refused before its handler ran (not JSON, not an object, too large, a NUL, a path too long),
 * answered in the format of the provider that sent it: Alexa reads an ErrorResponse (with 200, as every
 * directive failure; the skill's Lambda replaces any other status with BRIDGE_UNREACHABLE), Google a
 * protocolError, IFTTT its `errors` list. Unexpected errors go on to the app's handler.
 */
export function answerAssistantRefusal(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const problem = toProblem(error, request);
  if (problem.status >= 500) throw error;
  request.log.info({ status: problem.status, errorCode: error.code }, 'request refused');
  const fields = (problem.errors ?? []).map((field) => `${field.in} ${field.pointer}: ${field.detail}`);
  const message = [problem.detail.replace(/; see errors\.$/, '.'), ...fields].join(' ');
  const route = request.routeOptions.url ?? '';
  if (route.startsWith('/v1/alexa/')) {
    return reply.code(200).send(errorResponse(failure('INVALID_DIRECTIVE', message), undefined));
  }
  if (route.startsWith('/v1/google/')) {
    return reply.code(400).send({ payload: { errorCode: 'protocolError', debugString: message } });
  }
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .send({ errors: [{ message }] });
}

/**
 * The providers' endpoints. Each authenticates on its own terms (the token inside Alexa's envelope, a
 * Google bearer token, IFTTT's service key or bearer token), so all are `public` to the route guard.
 */
export const assistantRoutes: FastifyPluginAsyncZod<{
  assistants: Assistants;
  /** The methods a path answers (the app's 405 check), for IFTTT's own not-found answer. */
  allowedMethods: (path: string) => string[];
}> = async (app, { assistants, allowedMethods }) => {
  app.setErrorHandler(answerAssistantRefusal);
  // An endpoint IFTTT asks for that Hearth lacks is told in IFTTT's format too, not as problem+json.
  await app.register(
    async (scope) => {
      scope.setNotFoundHandler((request, reply) => {
        const allowed = allowedMethods(request.url.split('?', 1)[0] ?? '');
        if (allowed.length > 0) {
          return reply
            .code(405)
            .header('allow', allowed.join(', '))
            .send({ errors: [{ message: `This endpoint answers ${allowed.join(', ')} only.` }] });
        }
        return reply.code(404).send({ errors: [{ message: 'Hearth has no such IFTTT endpoint.' }] });
      });
    },
    { prefix: '/ifttt/v1' },
  );
  // IFTTT sends Content-Type: application/json on every request, also the body-less ones (status, test
  // set-up, trigger identity deletion); in this scope an empty JSON body is no body rather than an error.
  parseJsonAllowingEmpty(app, () => true);
  app.post(
    '/v1/alexa/directives',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Alexa Smart Home directive (payload version 3), as the skill’s Lambda forwards it',
        description:
          'The access token travels inside the envelope. Every failure is answered 200 with an ' +
          '`Alexa.ErrorResponse` event, as Alexa expects.',
        tags: ['assistants'],
        body: jsonObject,
      },
    },
    (request) => assistants.alexa.handleDirective(request.body),
  );

  app.post(
    '/v1/google/fulfillment',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Google smart-home intents: SYNC, QUERY, EXECUTE, DISCONNECT',
        description:
          'Needs the Bearer access token Google holds for the link; 401 with `authFailure` otherwise.',
        tags: ['assistants'],
        body: jsonObject,
      },
    },
    async (request, reply) => {
      const checked = await authenticateFor(
        assistants.authenticator,
        'google',
        bearerToken(request.headers.authorization),
      );
      if (!checked.ok) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="hearth"')
          .send(authFailureBody(request.body.requestId, checked.reason === 'expired'));
      }
      const answer = await assistants.google.handleFulfillment(checked.grant, request.body);
      if (answer.endGrant) await assistants.endGrant(checked.grant, 'google-disconnect');
      return reply.code(answer.status).send(answer.body);
    },
  );

  const serviceKey = (headers: Record<string, unknown>) => {
    const value = headers['ifttt-service-key'] ?? headers['ifttt-channel-key'];
    return typeof value === 'string' ? value : undefined;
  };
  const iftttRoute = <P extends z.ZodType>(summary: string, params: P) => ({
    config: { access: 'public' as const },
    schema: { summary, tags: ['ifttt'], params },
  });
  const noParams = z.object({});

  app.get('/ifttt/v1/status', iftttRoute('IFTTT: service status (service key)', noParams), (request, reply) =>
    ifttt(reply, async () => {
      assistants.ifttt.checkServiceKey(serviceKey(request.headers));
      return {};
    }),
  );

  app.post(
    '/ifttt/v1/test/setup',
    iftttRoute('IFTTT: endpoint-test set-up (service key)', noParams),
    (request, reply) => ifttt(reply, () => assistants.ifttt.testSetup(serviceKey(request.headers))),
  );

  app.get('/ifttt/v1/user/info', iftttRoute('IFTTT: the linked person', noParams), (request, reply) =>
    ifttt(reply, () => assistants.ifttt.userInfo(bearerToken(request.headers.authorization))),
  );

  app.post(
    '/ifttt/v1/triggers/:slug',
    iftttRoute('IFTTT: a trigger’s newest events', slugParams),
    (request, reply) =>
      ifttt(reply, () =>
        assistants.ifttt.trigger(
          bearerToken(request.headers.authorization),
          request.params.slug,
          request.body,
        ),
      ),
  );

  app.post(
    '/ifttt/v1/triggers/:slug/fields/:field/options',
    iftttRoute('IFTTT: choices for a trigger field', fieldParams),
    (request, reply) =>
      ifttt(reply, () =>
        assistants.ifttt.triggerFieldOptions(
          bearerToken(request.headers.authorization),
          request.params.slug,
          request.params.field,
        ),
      ),
  );

  app.post(
    '/ifttt/v1/triggers/:slug/fields/:field/validate',
    iftttRoute('IFTTT: validate a trigger field', fieldParams),
    (request, reply) =>
      ifttt(reply, () =>
        assistants.ifttt.validateTriggerField(
          bearerToken(request.headers.authorization),
          request.params.slug,
          request.params.field,
          request.body,
        ),
      ),
  );

  app.delete(
    '/ifttt/v1/triggers/:slug/trigger_identity/:identity',
    iftttRoute(
      'IFTTT: a trigger identity no Applet uses any more',
      slugParams.extend({ identity: z.string().max(200) }),
    ),
    (request, reply) =>
      ifttt(reply, () =>
        assistants.ifttt.deleteTriggerIdentity(
          bearerToken(request.headers.authorization),
          request.params.slug,
        ),
      ),
  );

  app.post('/ifttt/v1/actions/:slug', iftttRoute('IFTTT: run an action', slugParams), (request, reply) =>
    ifttt(reply, () =>
      assistants.ifttt.action(bearerToken(request.headers.authorization), request.params.slug, request.body),
    ),
  );

  app.post(
    '/ifttt/v1/actions/:slug/fields/:field/options',
    iftttRoute('IFTTT: choices for an action field', fieldParams),
    (request, reply) =>
      ifttt(reply, () =>
        assistants.ifttt.actionFieldOptions(
          bearerToken(request.headers.authorization),
          request.params.slug,
          request.params.field,
        ),
      ),
  );
};
