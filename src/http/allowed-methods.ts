import type { FastifyInstance } from 'fastify';

/**
 * Which methods each registered path pattern answers, so that a wrong method on a known path gets 405 with
 * an Allow header instead of 404. Fastify's router does not expose a lookup by concrete path, so patterns
 * are matched here: a parameter (`:id`, `:id(^\\d+$)`) stands for any one segment and `*` for the rest.
 * Regex constraints are not checked, which at worst turns a 404 into a 405 for the same path.
 */
export class AllowedMethods {
  readonly #routes: { pattern: RegExp; methods: Set<string> }[] = [];

  /** Records every route registered on `app` (and its plugins) from now on. */
  track(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      this.add(route.url, methods);
    });
  }

  add(url: string, methods: readonly string[]): void {
    const pattern = patternFor(url);
    let entry = this.#routes.find((route) => route.pattern.source === pattern.source);
    if (!entry) {
      entry = { pattern, methods: new Set() };
      this.#routes.push(entry);
    }
    for (const method of methods) entry.methods.add(method.toUpperCase());
  }

  /** The methods allowed on `path` (without query string), sorted; empty when no route matches it. */
  forPath(path: string): string[] {
    const methods = new Set<string>();
    for (const route of this.#routes) {
      if (route.pattern.test(path)) for (const method of route.methods) methods.add(method);
    }
    return [...methods].sort();
  }
}

function patternFor(url: string): RegExp {
  const segments = url.split('/').map((segment) => {
    if (segment === '*') return '.*';
    if (segment.includes(':') || segment.includes('*')) return '[^/]+';
    return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${segments.join('/')}$`);
}
