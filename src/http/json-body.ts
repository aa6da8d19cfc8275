import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Replaces the JSON body parser of this scope with Fastify's own (prototype poisoning refused) that takes
 * an empty body as no body when `emptyIsNone` says so, instead of refusing it.
 */
export function parseJsonAllowingEmpty(
  app: FastifyInstance,
  emptyIsNone: (request: FastifyRequest) => boolean,
): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    body.length === 0 && emptyIsNone(request)
      ? done(null, undefined)
      : parseJson(request, body.toString(), done),
  );
}
