import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpProblem } from '../../src/http/problem.js';
import { addSignUpRoute, buildTestHttp, parseJson, type TestHttp } from './build.js';

const BODY_LIMIT = 1024;
const personal = {
  email: 'alice@example.com',
  password: 'correct horse battery staple',
  name: 'Alice Liddell',
};

/** Asserts the RFC 9457 shape and returns the parsed problem. */
function expectProblem(response: LightMyRequestResponse, status: number): Record<string, unknown> {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = parseJson(response.body);
  expect(problem).toMatchObject({
    type: expect.any(String),
    title: expect.any(String),
    status,
    detail: expect.any(String),
    instance: `urn:uuid:${response.headers['x-request-id']}`,
  });
  return problem;
}

describe('problem details', () => {
  let http: TestHttp;
  beforeAll(async () => {
    http = await buildTestHttp({
      services: { env: { HEARTH_BODY_LIMIT_BYTES: String(BODY_LIMIT) } },
      routes: (app) => {
        addSignUpRoute(app);
        app.get('/test/crash', { config: { access: 'public' } }, async () => {
          throw new Error('connection to 10.0.0.5 refused for alice@example.com');
        });
        app.get('/test/conflict', { config: { access: 'public' } }, async () => {
          throw new HttpProblem(409, 'This device is already claimed.');
        });
      },
    });
  });
  afterAll(() => http.close());

  it('answers an unknown address with 404', async () => {
    const response = await http.app.inject({ url: '/no/such/thing' });
    expect(expectProblem(response, 404)).toMatchObject({ type: 'about:blank', title: 'Not Found' });
  });

  it('answers a known address with the wrong method with 405 and Allow', async () => {
    const response = await http.app.inject({ method: 'DELETE', url: '/healthz' });
    expectProblem(response, 405);
    expect(response.headers.allow).toBe('GET, HEAD');
  });

  it('refuses a body over the configured limit with 413', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/test/sign-up',
      payload: { ...personal, name: 'x'.repeat(BODY_LIMIT) },
    });
    const problem = expectProblem(response, 413);
    expect(problem.detail).toContain(String(BODY_LIMIT));
    expect(response.body).not.toContain('xxxx');
  });

  it.each(['text/plain', 'application/xml'])('refuses a %s body with 415', async (contentType) => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/test/sign-up',
      headers: { 'content-type': contentType },
      payload: personal.email,
    });
    expectProblem(response, 415);
    expect(response.body).not.toContain(personal.email);
  });

  it('refuses malformed JSON with 400 without quoting it', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/test/sign-up',
      headers: { 'content-type': 'application/json' },
      payload: `{"email": "${personal.email}", "password": `,
    });
    expect(expectProblem(response, 400).detail).toMatch(/not valid JSON/);
    expect(response.body).not.toContain(personal.email);
  });

  it('says which key it refuses when a body tries prototype poisoning, rather than calling it broken JSON', async () => {
    for (const payload of [
      `{"email": "${personal.email}", "__proto__": {"admin": true}}`,
      `{"constructor": {"prototype": {"admin": true}}}`,
    ]) {
      const response = await http.app.inject({
        method: 'POST',
        url: '/test/sign-up',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      expect(expectProblem(response, 400).detail).toBe(
        'The request body uses a key that is not allowed: __proto__, or constructor holding prototype.',
      );
      expect(response.body).not.toContain(personal.email);
    }
  });

  it('names each invalid field and why, without echoing the values', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/test/sign-up',
      payload: { email: 'alice-at-example.com', password: 'hunter2', name: '' },
    });
    const problem = expectProblem(response, 400);
    expect(problem.type).toBe('/problems/invalid-request');
    const errors = problem.errors as { in: string; pointer: string; detail: string }[];
    expect(errors.map((error) => error.pointer).sort()).toEqual(['/email', '/name', '/password']);
    for (const error of errors) {
      expect(error.in).toBe('body');
      expect(error.detail.length).toBeGreaterThan(0);
    }
    expect(response.body).not.toContain('alice-at-example.com');
    expect(response.body).not.toContain('hunter2');
  });

  it('names a missing field', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/test/sign-up',
      payload: { email: personal.email, name: personal.name },
    });
    const errors = expectProblem(response, 400).errors as { pointer: string }[];
    expect(errors).toEqual([expect.objectContaining({ in: 'body', pointer: '/password' })]);
    expect(response.body).not.toContain(personal.email);
  });

  it('accepts a valid body', async () => {
    const response = await http.app.inject({ method: 'POST', url: '/test/sign-up', payload: personal });
    expect(response.statusCode).toBe(201);
  });

  it('hides the internal message of an unexpected error behind a generic 500', async () => {
    const response = await http.app.inject({ url: '/test/crash' });
    const problem = expectProblem(response, 500);
    expect(problem.title).toBe('Internal Server Error');
    expect(response.body).not.toMatch(/10\.0\.0\.5|alice|refused|Error:|at /);
  });

  it('passes on the detail of an HttpProblem, which was written for clients', async () => {
    const response = await http.app.inject({ url: '/test/conflict' });
    expect(expectProblem(response, 409)).toMatchObject({
      title: 'Conflict',
      detail: 'This device is already claimed.',
    });
  });
});
