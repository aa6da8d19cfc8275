/**
 * The simulator's HTTP client: it uses the public API exactly as an app and a device would, through the
 * global fetch. A user session refreshes itself once when its access token has expired.
 */

/** A refusal from the API, described by its problem document (whose texts never hold personal data). */
export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly problem: { type?: string; title?: string; detail?: string; code?: string },
  ) {
    super(
      `${method} ${path} answered ${status}${problem.detail || problem.title ? `: ${problem.detail ?? problem.title}` : ''}`,
    );
  }
}

/** The API could not be reached at all (nothing listens there, a wrong host). */
export class ApiUnreachableError extends Error {
  override name = 'ApiUnreachableError';
}

interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export interface RequestOptions {
  body?: unknown;
  /** A bearer token other than the session's (a device presents its claim token). */
  token?: string;
}

export class HearthApi {
  private constructor(
    readonly baseUrl: string,
    private tokens: Tokens,
  ) {}

  /** Logs in with e-mail and password (no second factor: give the simulator an account without one). */
  static async logIn(baseUrl: string, email: string, password: string): Promise<HearthApi> {
    const base = baseUrl.replace(/\/+$/, '');
    const tokens = await send<Tokens>(base, 'POST', '/v1/sessions', { body: { email, password } });
    return new HearthApi(base, tokens);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    if (options.token !== undefined) return send<T>(this.baseUrl, method, path, options);
    try {
      return await send<T>(this.baseUrl, method, path, { ...options, token: this.tokens.accessToken });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      this.tokens = await send<Tokens>(this.baseUrl, 'POST', '/v1/sessions/refresh', {
        body: { refreshToken: this.tokens.refreshToken },
      });
      return send<T>(this.baseUrl, method, path, { ...options, token: this.tokens.accessToken });
    }
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}, token?: string): Promise<T> {
    return this.request<T>('POST', path, { body, ...(token !== undefined ? { token } : {}) });
  }

  /** Ends the session; failures are ignored (the service may already be stopping). */
  async logOut(): Promise<void> {
    await this.request('DELETE', '/v1/sessions/current').catch(() => {});
  }
}

async function send<T>(baseUrl: string, method: string, path: string, options: RequestOptions): Promise<T> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new ApiUnreachableError(
      `Cannot reach the Hearth API at ${baseUrl} (${cause?.code ?? cause?.message ?? (error as Error).message})`,
    );
  }
  const text = await response.text();
  const body = text ? parseJson(text) : undefined;
  if (!response.ok) {
    throw new ApiError(method, path, response.status, (body ?? {}) as ApiError['problem']);
  }
  return body as T;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
