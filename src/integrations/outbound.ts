import { setTimeout as sleep } from 'node:timers/promises';

/** How calls to a provider are retried: statuses 429 and 5xx and network failures, `attempts` times in all. */
export interface RetryPolicy {
  attempts: number;
  /** The first wait; each further wait doubles it. A Retry-After the provider sends wins when longer. */
  delayMs: number;
  /** No wait exceeds this, whatever Retry-After says. */
  maxDelayMs: number;
}

/** Alexa's rule for its event gateway (retry at most three times, at least one second apart), and ours for all. */
export const PROVIDER_RETRY: RetryPolicy = { attempts: 4, delayMs: 1_000, maxDelayMs: 30_000 };

/** A provider answered with something no retry can fix; `status` 0 means it could not be reached at all. */
export class ProviderCallError extends Error {
  override name = 'ProviderCallError';
  constructor(
    readonly provider: string,
    readonly status: number,
    /** The provider's own error code, when its body names one (never the body itself: it may echo tokens). */
    readonly code: string | undefined,
  ) {
    super(`${provider} answered ${status === 0 ? 'nothing' : status}${code ? ` (${code})` : ''}`);
  }
}

const retryable = (status: number) => status === 429 || status >= 500;

/**
 * Sends a request, retrying while the provider is overloaded or down, and returns the last response
 * (retryable or not) for the caller to judge; throws ProviderCallError when it never answered.
 */
export async function sendWithRetry(
  provider: string,
  url: string,
  init: () => RequestInit,
  policy: RetryPolicy,
): Promise<Response> {
  let wait = policy.delayMs;
  for (let attempt = 1; ; attempt++) {
    let response: Response | undefined;
    try {
      response = await fetch(url, { ...init(), signal: AbortSignal.timeout(10_000) });
    } catch {
      if (attempt >= policy.attempts) throw new ProviderCallError(provider, 0, undefined);
    }
    if (response && (!retryable(response.status) || attempt >= policy.attempts)) return response;
    // Drain the body so the connection can be reused.
    await response?.arrayBuffer().catch(() => undefined);
    const retryAfter = Number(response?.headers.get('retry-after')) * 1000;
    await sleep(Math.min(policy.maxDelayMs, Number.isFinite(retryAfter) ? Math.max(wait, retryAfter) : wait));
    wait *= 2;
  }
}

/** The provider's error code from a JSON error body, in the places Alexa, Google and OAuth put it. */
export async function errorCodeOf(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as {
      payload?: { code?: unknown };
      error?: unknown;
      code?: unknown;
    };
    const code = body.payload?.code ?? body.error ?? body.code;
    if (typeof code === 'string') return code.slice(0, 80);
    const status = (body.error as { status?: unknown } | undefined)?.status;
    return typeof status === 'string' ? status.slice(0, 80) : undefined;
  } catch {
    return undefined;
  }
}
