import { answerOf } from '../api';

/**
 * The operator console's way to the API, apart from the customer's: the operator session token lives only
 * in this module's memory (README "Console security"), so a reload or a new tab asks to sign in again.
 * Operator sessions have no refresh and last an hour; a refused token signs the console out.
 */
export type OperatorRole = 'viewer' | 'responder' | 'admin';

export interface OperatorSession {
  operatorId: string;
  role: OperatorRole;
  expiresAt: string;
}

let token: string | null = null;
const listeners = new Set<(session: OperatorSession | null) => void>();
let current: OperatorSession | null = null;

function setSession(session: OperatorSession | null, bearer: string | null): void {
  current = session;
  token = bearer;
  for (const listener of listeners) listener(session);
}

/** Calls `listener` whenever the operator signs in or out (or the session is refused). */
export function onSessionChange(listener: (session: OperatorSession | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function operatorSession(): OperatorSession | null {
  return current;
}

async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(signal ? { signal } : {}),
    credentials: 'omit',
  });
  // The session ended (an hour passed, or it was ended elsewhere): back to the sign-in screen.
  if (response.status === 401 && token && path !== '/v1/admin/sessions') setSession(null, null);
  return response;
}

export async function adminApi<T>(method: string, path: string, body?: unknown): Promise<T> {
  return answerOf<T>(await send(method, path, body));
}

/** The body of a text answer (the Markdown report), or its problem thrown. */
export async function adminText(path: string): Promise<string> {
  const response = await send('GET', path);
  if (!response.ok) return answerOf<never>(response);
  return response.text();
}

/** Opens a server-sent-events GET with the bearer header; throws an ApiProblem when refused. */
export async function openAdminStream(
  path: string,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const response = await send('GET', path, undefined, signal);
  if (!response.ok || !response.body) return answerOf<never>(response);
  return response.body;
}

export async function operatorSignIn(email: string, password: string, code: string): Promise<void> {
  const answer = await adminApi<{
    token: string;
    expiresAt: string;
    operator: { id: string; role: OperatorRole };
  }>('POST', '/v1/admin/sessions', { email, password, code });
  setSession(
    { operatorId: answer.operator.id, role: answer.operator.role, expiresAt: answer.expiresAt },
    answer.token,
  );
}

export async function operatorSignOut(): Promise<void> {
  try {
    await send('DELETE', '/v1/admin/sessions/current');
  } finally {
    setSession(null, null);
  }
}

const ROLES: OperatorRole[] = ['viewer', 'responder', 'admin'];

/** Whether the signed-in operator's role reaches `needed` (the API checks again). */
export function may(needed: OperatorRole): boolean {
  return current !== null && ROLES.indexOf(current.role) >= ROLES.indexOf(needed);
}
