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

  /** The security each access level must show in the document, written out rather than imported. */
  const EXPECTED_SECURITY: Record<string, unknown> = {
    public: [],
    user: [{ userAccessToken: [] }],
    operator: [{ operatorSessionToken: [] }],
    device: [{ deviceClaimToken: [] }],
    scraper: [{}, { metricsScrapeToken: [] }],
  };

  it('declares a bearer scheme for users, operators, device claim tokens and metrics scrapers', async () => {
    const document = parseJson((await http.app.inject({ url: '/openapi.json' })).body) as {
      components?: { securitySchemes?: Record<string, Record<string, unknown>> };
    };
    expect(document.components?.securitySchemes).toEqual({
      userAccessToken: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'hth_at_…' }),
      operatorSessionToken: expect.objectContaining({
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'hth_op_…',
      }),
      deviceClaimToken: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'hth_ct_…' }),
      metricsScrapeToken: expect.objectContaining({
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'hth_scr_…',
      }),
    });
  });

  it("gives every operation the security of its route's declared access", async () => {
    const document = parseJson((await http.app.inject({ url: '/openapi.json' })).body) as {
      paths: Record<string, Record<string, { security?: unknown }>>;
    };
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
    );
    const mismatches: string[] = [];
    for (const { path, method, operation } of operations) {
      const url = path.replace(/\{([^}]+)\}/g, ':$1');
      const route = http.app.routeAccess.find(
        (entry) => entry.url === url && entry.method === method.toUpperCase(),
      );
      if (!route) {
        mismatches.push(`${method} ${path}: no such route`);
        continue;
      }
      const expected = EXPECTED_SECURITY[route.access];
      if (JSON.stringify(operation.security) !== JSON.stringify(expected)) {
        mismatches.push(`${method} ${path} (${route.access}): ${JSON.stringify(operation.security)}`);
      }
    }
    expect(mismatches).toEqual([]);
    const levels = new Set(
      operations.map(({ path, method }) => {
        const url = path.replace(/\{([^}]+)\}/g, ':$1');
        return http.app.routeAccess.find(
          (entry) => entry.url === url && entry.method === method.toUpperCase(),
        )?.access;
      }),
    );
    expect([...levels].sort()).toEqual(['device', 'operator', 'public', 'scraper', 'user']);
  });

  it('gives /docs the schemes, so Swagger UI shows its Authorize dialog', async () => {
    const initializer = await http.app.inject({ url: '/docs/static/swagger-initializer.js' });
    expect(initializer.statusCode).toBe(200);
    // The page resolves the spec's address against its own, /docs/.
    const specUrl = /url: resolveUrl\('([^']+)'\)/.exec(initializer.body)?.[1];
    expect(specUrl).toBeDefined();
    const served = await http.app.inject({
      url: new URL(specUrl as string, 'http://localhost/docs/').pathname,
    });
    expect(served.statusCode).toBe(200);
    const document = parseJson(served.body) as {
      components?: { securitySchemes?: Record<string, unknown> };
      paths: Record<string, Record<string, { security?: unknown }>>;
    };
    expect(Object.keys(document.components?.securitySchemes ?? {}).sort()).toEqual([
      'deviceClaimToken',
      'metricsScrapeToken',
      'operatorSessionToken',
      'userAccessToken',
    ]);
    expect(document.paths['/v1/me']?.get?.security).toEqual([{ userAccessToken: [] }]);
  });
});
