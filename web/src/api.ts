/**
 * The console's one way to the API. The access token lives only in this module's memory; the refresh token
 * is an HttpOnly cookie scoped to /v1/console/sessions that script can neither read nor send elsewhere
 * (README "Console security"). Closing the tab forgets the access token; reloading trades the cookie for a
 * new one.
 */

/** An API refusal (RFC 9457): its detail is written for people, so the screens show it as it is. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly type: string;
  readonly fieldErrors: { pointer: string; detail: string }[];

  constructor(status: number, body: unknown) {
    const problem = (body ?? {}) as { detail?: unknown; type?: unknown; errors?: unknown };
    super(typeof problem.detail === 'string' ? problem.detail : 'Something went wrong; try again.');
    this.status = status;
    this.type = typeof problem.type === 'string' ? problem.type : 'about:blank';
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
  }

  /**
   * What to tell the person: the detail, which the API writes for people (a weak password's advice), or
   * for a plain validation refusal ("see errors") the fields and why each was refused.
   */
  describe(): string {
    if (this.type !== '/problems/invalid-request' || this.fieldErrors.length === 0) return this.message;
    const fields = this.fieldErrors.map((error) => `${error.pointer.slice(1) || 'request'}: ${error.detail}`);
    return `Please check ${fields.join('; ')}.`;
  }
}

export interface Tokens {
  accessToken: string;
  expiresIn: number;
  sessionId: string;
}

let accessToken: string | null = null;
let refreshing: Promise<boolean> | null = null;

async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  return fetch(path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(signal ? { signal } : {}),
    credentials: 'same-origin',
  });
}

async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not the API's answer (a proxy's error page): the generic message fits.
  }
  if (!response.ok) throw new ApiProblem(response.status, parsed);
  return parsed as T;
}

async function tradeCookie(): Promise<boolean> {
  try {
    const response = await fetch('/v1/console/sessions/refresh', {
      method: 'POST',
      credentials: 'same-origin',
    });
    if (!response.ok) {
      accessToken = null;
      return false;
    }
    accessToken = ((await response.json()) as Tokens).accessToken;
    return true;
  } catch {
    return false;
  }
}

/**
 * Trades the refresh cookie for a new access token; false when there is no live session. Every tab shares
 * the one cookie and each refresh token works once (a second use ends the session, as a stolen token's
 * would), so tabs take turns through a Web Lock: the next tab sends the cookie the previous one received.
 * Outside a secure context (plain http on a non-local address) there are no locks, and tabs that refresh at
 * the same instant can end their session.
 */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      if (!navigator.locks) return await tradeCookie();
      return await navigator.locks.request('hearth-console-refresh', tradeCookie);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** A call to the API; an expired access token is renewed from the cookie once, then the call is retried. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response = await send(method, path, body);
  if (response.status === 401 && accessToken && (await refresh())) response = await send(method, path, body);
  return parse<T>(response);
}

/**
 * Opens a long-lived GET (the live event streams) with the bearer header, which EventSource cannot send:
 * the token never goes into a URL. Throws an ApiProblem when refused.
 */
export async function openStream(path: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  let response = await send('GET', path, undefined, signal);
  if (response.status === 401 && (await refresh())) response = await send('GET', path, undefined, signal);
  if (!response.ok || !response.body) return parse<never>(response);
  return response.body;
}

export async function signIn(email: string, password: string, totpCode?: string): Promise<void> {
  const response = await send('POST', '/v1/console/sessions', {
    email,
    password,
    ...(totpCode ? { totpCode } : {}),
  });
  accessToken = (await parse<Tokens>(response)).accessToken;
}

/** Ends the session on the server (which also clears the cookie), then forgets the token. */
export async function signOut(): Promise<void> {
  try {
    await api('DELETE', '/v1/console/sessions/current');
  } finally {
    accessToken = null;
  }
}

export function isSignedIn(): boolean {
  return accessToken !== null;
}

/** Every item of a keyset-paged list (`?limit=&cursor=`, answered with `{ items, next }`). */
export async function listAll<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  const separator = path.includes('?') ? '&' : '?';
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page: { items: T[]; next: string | null } = await api(
      'GET',
      `${path}${separator}limit=100${query}`,
    );
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return items;
}

/**
 * A file the API answers with (the data export), fetched with the in-memory bearer like any call, so no
 * token goes into a link's URL. Throws an ApiProblem when refused.
 */
export async function download(path: string): Promise<Blob> {
  let response = await send('GET', path);
  if (response.status === 401 && accessToken && (await refresh())) response = await send('GET', path);
  if (!response.ok) return parse<never>(response);
  return response.blob();
}

/**
 * After the account is deleted: forgets the access token, and offers the now dead refresh cookie once so
 * that the server drops it (its refresh route clears a cookie it refuses).
 */
export async function forgetSession(): Promise<void> {
  accessToken = null;
  await tradeCookie();
}

/** Reads an answer of the API: its JSON, or its problem thrown (for the operator console's own calls). */
export function answerOf<T>(response: Response): Promise<T> {
  return parse<T>(response);
}
