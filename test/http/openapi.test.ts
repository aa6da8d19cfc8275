import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestHttp, parseJson, type TestHttp } from './build.js';

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

describe('API description', () => {
  let http: TestHttp;
  beforeAll(async () => {
    http = await buildTestHttp();
  });
  afterAll(() => http.close());

  it('serves an OpenAPI 3 document that lists /healthz with its answers', async () => {
    const response = await http.app.inject({ url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const document = parseJson(response.body) as unknown as OpenApiDocument;

    expect(document.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(document.info.title).toBe('Hearth API');
    expect(typeof document.info.version).toBe('string');
    for (const [path, operations] of Object.entries(document.paths)) {
      expect(path.startsWith('/')).toBe(true);
      for (const [method, operation] of Object.entries(operations)) {
        expect(HTTP_METHODS).toContain(method);
        expect(Object.keys(operation.responses).length).toBeGreaterThan(0);
      }
    }

    const health = document.paths['/healthz']?.get;
    expect(health?.responses['200']?.content?.['application/json']).toMatchObject({
      schema: { type: 'object', properties: { status: { enum: ['ok'] } } },
    });
    expect(health?.responses['503']?.content?.['application/problem+json']).toMatchObject({
      schema: { type: 'object', required: expect.arrayContaining(['type', 'title', 'status']) },
    });
  });

  it('keeps the docs and the document itself out of the document', async () => {
    const document = parseJson(
      (await http.app.inject({ url: '/openapi.json' })).body,
    ) as unknown as OpenApiDocument;
    expect(
      Object.keys(document.paths).filter((path) => path.startsWith('/docs') || path === '/openapi.json'),
    ).toEqual([]);
  });

  it('serves Swagger UI at /docs, with the assets the page refers to', async () => {
    const page = await http.app.inject({ url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<div id="swagger-ui">');

    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((match) => match[1]);
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) {
      const response = await http.app.inject({ url: asset as string });
      expect(response.statusCode, asset).toBe(200);
    }
  });
});
