import type { FastifyRequest } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpProblem } from '../../src/http/problem.js';
import { buildHttpServer } from '../../src/http/server.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';
import { buildTestHttp, parseJson, type TestHttp } from './build.js';

describe('route access declarations', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterAll(() => services.close());

  it('refuses a route without an access declaration when it is added', async () => {
    const app = await buildHttpServer(services);
    expect(() => app.get('/undeclared', async () => 'hi')).toThrow(
      /GET \/undeclared must declare config\.access/,
    );
    await app.close();
  });

  it('fails start-up when a plugin adds a route without an access declaration', async () => {
    const app = await buildHttpServer(services);
    app.register(async (plugin) => {
      plugin.post('/inside-a-plugin', { config: {} }, async () => 'hi');
    });
    await expect(app.ready()).rejects.toThrow(/\/inside-a-plugin must declare config\.access/);
    await app.close();
  });

  it('refuses an access level that does not exist', async () => {
    const app = await buildHttpServer(services);
    const config = { access: 'pubic' } as unknown as { access: 'public' };
    expect(() => app.get('/typo', { config }, async () => 'hi')).toThrow(/must declare config\.access/);
    await app.close();
  });
});

describe('protected routes', () => {
  let http: TestHttp;
  let asked: FastifyRequest[] = [];
  const handled: string[] = [];
  beforeAll(async () => {
    http = await buildTestHttp({
      authenticate: {
        user: async (request) => {
          asked.push(request);
          return request.headers.authorization === 'Bearer good';
        },
        operator: async () => {
          throw new HttpProblem(403, 'Operators only.');
        },
      },
      routes: (app) => {
        for (const access of ['user', 'device', 'operator'] as const) {
          app.post(`/test/${access}`, { config: { access } }, async () => {
            handled.push(access);
            return { access };
          });
        }
      },
    });
  });
  afterAll(() => http.close());
  afterEach(() => {
    asked = [];
    handled.length = 0;
  });

  it('lets a request through when the authenticator for its level accepts it', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/test/user',
      headers: { authorization: 'Bearer good' },
    });
    expect(response.statusCode).toBe(200);
    expect(handled).toEqual(['user']);
  });

  it('answers 401 problem+json when the authenticator refuses, before reading the body', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/test/user',
      headers: { authorization: 'Bearer bad', 'content-type': 'application/json' },
      payload: '{ not even json',
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(parseJson(response.body)).toMatchObject({ status: 401, title: 'Unauthorized' });
    expect(asked).toHaveLength(1);
    expect(handled).toEqual([]);
  });

  it('denies every request to a level without an authenticator', async () => {
    const response = await http.app.inject({
      method: 'POST',
      url: '/test/device',
      headers: { authorization: 'Bearer good' },
    });
    expect(response.statusCode).toBe(401);
    expect(handled).toEqual([]);
    expect(asked).toEqual([]);
  });

  it('answers with the problem an authenticator throws', async () => {
    const response = await http.app.inject({ method: 'POST', url: '/test/operator' });
    expect(response.statusCode).toBe(403);
    expect(parseJson(response.body)).toMatchObject({ status: 403, detail: 'Operators only.' });
    expect(handled).toEqual([]);
  });
});
