import type { FastifyInstance, FastifyRequest } from 'fastify';
import { findUnstorableText } from '../schema/text.js';
import { type FieldError, HttpProblem, PROBLEM_TYPES } from './problem.js';

/**
 * Refuses a NUL character (U+0000) or an unpaired surrogate anywhere in a request's path parameters, query
 * string or JSON body, keys included, before validation: such a value would otherwise fail deep in a store
 * (a 500), or be stored other than given (see src/schema/text.ts). One hook for every route, so a route
 * added later is covered too.
 */
export function registerNulRefusal(app: FastifyInstance): void {
  app.addHook('preValidation', async (request: FastifyRequest) => {
    const parts: Array<[unknown, FieldError['in']]> = [
      [request.params, 'path'],
      [request.query, 'query'],
      [request.body, 'body'],
    ];
    const found = parts.flatMap(([value, location]) =>
      findUnstorableText(value).map((field) => ({ location, ...field })),
    );
    if (found.length > 0) {
      const summary = found.every((field) => field.nul)
        ? 'Text may not contain the NUL character (U+0000); see errors.'
        : 'Text may not contain the NUL character (U+0000) or an unpaired surrogate; see errors.';
      throw new HttpProblem(400, summary, {
        type: PROBLEM_TYPES.invalidRequest,
        errors: found.map(({ location, pointer, detail }) => ({ in: location, pointer, detail })),
      });
    }
  });
}
