import type { FastifyInstance, FastifyRequest } from 'fastify';
import { findNul } from '../schema/text.js';
import { type FieldError, HttpProblem, PROBLEM_TYPES } from './problem.js';

/**
 * Refuses a NUL character (U+0000) anywhere in a request's path parameters, query string or JSON body, keys
 * included, before validation: such a value would otherwise fail deep in a store (a 500) or, sealed, be
 * stored where no client expects it. One hook for every route, so a route added later is covered too.
 */
export function registerNulRefusal(app: FastifyInstance): void {
  app.addHook('preValidation', async (request: FastifyRequest) => {
    const parts: Array<[unknown, FieldError['in']]> = [
      [request.params, 'path'],
      [request.query, 'query'],
      [request.body, 'body'],
    ];
    const errors = parts.flatMap(([value, location]) =>
      findNul(value).map((field) => ({ in: location, ...field })),
    );
    if (errors.length > 0) {
      throw new HttpProblem(400, 'Text may not contain the NUL character (U+0000); see errors.', {
        type: PROBLEM_TYPES.invalidRequest,
        errors,
      });
    }
  });
}
