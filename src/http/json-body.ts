import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpProblem } from './problem.js';

/** Fastify refuses these keys (prototype poisoning) with the same error as broken JSON; we say which. */
const forbiddenKey = () =>
  new HttpProblem(
    400,
    'The request body uses a key that is not allowed: __proto__, or constructor holding prototype.',
  );

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
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text.length === 0 && emptyIsNone(request)) return done(null, undefined);
    parseJson(request, text, (error, value) => {
      if (error && parsesPlainly(text)) return done(forbiddenKey(), undefined);
      done(error, value);
    });
  });
}

/** Whether the text is JSON at all; the parsed value is dropped (a "__proto__" key is only an own key here). */
function parsesPlainly(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
