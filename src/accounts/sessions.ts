import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/log.js';
import { LocalSignals, type NodeSignals } from '../cluster/signals.js';
import type { Sealer } from '../crypto/sealer.js';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import { DomainError } from '../domain-error.js';
import type { Db } from '../store/database.js';
import { type NewToken, type SessionRow, SessionStore } from './session-store.js';
import { userSubject } from './user-store.js';

export interface ClientInfo {
  userAgent?: string | undefined;
  ip?: string | undefined;
}

export interface IssuedTokens {
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  /** Seconds until the access token expires. */
  expiresIn: number;
  /** The session's absolute end: refreshing never moves it. */
  refreshExpiresAt: Date;
}

/** Who a valid access token speaks for. */
export interface Principal {
  userId: string;
  sessionId: string;
}

export interface SessionSettings {
  accessTokenTtlMs: number;
  sessionTtlMs: number;
  /**
   * How long a validated token is trusted without asking the database again. A revocation made on any node
   * (or by the CLI against PostgreSQL) reaches every node's cache over the cluster bus at once; this bounds
   * how long a lost signal could go unnoticed.
   */
  cacheTtlMs: number;
  cacheSize: number;
}

export const DEFAULT_SESSION_SETTINGS: SessionSettings = {
  accessTokenTtlMs: 15 * 60_000,
  sessionTtlMs: 30 * 24 * 60 * 60_000,
  cacheTtlMs: 2_000,
  cacheSize: 50_000,
};

const ACCESS_PREFIX = 'hth_at_';
const REFRESH_PREFIX = 'hth_rt_';

interface CachedPrincipal extends Principal {
  validUntil: number;
}

const sessionEnded = () =>
  new DomainError('unauthenticated', 'This session has ended; log in again.', { code: 'session-ended' });

/**
 * Opaque access tokens (short) and rotating refresh tokens (single use, within an absolute session life).
 * A session is also over when the user's or the global security epoch has moved past the one it began
 * under, which is how "log out this user everywhere" and "log out everyone" stay one row update each.
 */
export class SessionService {
  readonly #store: SessionStore;
  readonly #audit: AuditLog;
  readonly #settings: SessionSettings;
  readonly #now: () => Date;
  /** Token hash (hex) → principal; insertion order doubles as LRU order. */
  readonly #cache = new Map<string, CachedPrincipal>();
  readonly #signals: Pick<NodeSignals, 'publish' | 'subscribe'>;
  /**
   * Moves on with every forgetting, so a token read from the database before a revocation and answered
   * after it is not cached (it would outlive the revocation by a whole TTL).
   */
  #forgettings = 0;

  constructor(deps: {
    db: Db;
    sealer: Sealer;
    audit: AuditLog;
    settings?: Partial<SessionSettings>;
    clock?: () => Date;
    /** Revocations travel to every node's token cache over it (ids only); one node by default. */
    signals?: Pick<NodeSignals, 'publish' | 'subscribe'>;
  }) {
    this.#store = new SessionStore(deps.db, deps.sealer);
    this.#audit = deps.audit;
    this.#settings = { ...DEFAULT_SESSION_SETTINGS, ...deps.settings };
    this.#now = deps.clock ?? (() => new Date());
    this.#signals = deps.signals ?? new LocalSignals();
    // Whichever node revokes, every node (this one included, before publish returns) forgets.
    const forgetAll = { received: () => this.#forget(() => true), missed: () => this.#forget(() => true) };
    this.#signals.subscribe('global-epoch', forgetAll);
    this.#signals.subscribe('sessions-ended', {
      received: (ids) => {
        const sessions = new Set(ids);
        this.#forget((entry) => sessions.has(entry.sessionId));
      },
      missed: forgetAll.missed,
    });
    this.#signals.subscribe('user-epochs', {
      received: (ids) => {
        const users = new Set(ids);
        this.#forget((entry) => users.has(entry.userId));
      },
      missed: forgetAll.missed,
    });
  }

  async issue(userId: string, client: ClientInfo): Promise<IssuedTokens> {
    const epochs = await this.#store.currentEpochs(userId);
    if (!epochs) throw new DomainError('not_found', 'There is no such account.');
    const now = this.#now();
    const id = randomUUID();
    const expiresAt = new Date(now.getTime() + this.#settings.sessionTtlMs);
    const { tokens, rows } = this.#newTokens(id, now, expiresAt);
    await this.#store.create({
      id,
      userId,
      epochs,
      expiresAt,
      userAgent: client.userAgent,
      ip: client.ip,
      tokens: rows,
    });
    return tokens;
  }

  /** The principal of a live access token, or null for anything else (unknown, expired, revoked). */
  async authenticate(accessToken: string): Promise<Principal | null> {
    if (!accessToken.startsWith(ACCESS_PREFIX)) return null;
    const hash = hashSecret(accessToken);
    const key = hash.toString('hex');
    const now = this.#now();
    const cached = this.#cache.get(key);
    if (cached) {
      this.#cache.delete(key);
      if (cached.validUntil > now.getTime()) {
        this.#cache.set(key, cached);
        return { userId: cached.userId, sessionId: cached.sessionId };
      }
    }
    const forgettings = this.#forgettings;
    const record = await this.#store.findToken(hash);
    if (
      !record ||
      record.kind !== 'access' ||
      record.tokenExpiresAt <= now ||
      record.sessionExpiresAt <= now ||
      record.endedAt !== null ||
      !record.epochsCurrent
    ) {
      return null;
    }
    await this.#store.touch(record.sessionId, now);
    // Each entry lives between half and all of the TTL, so entries cached together do not all expire in the
    // same instant and send every check to the database at once.
    const lifetime = this.#settings.cacheTtlMs * (0.5 + Math.random() / 2);
    const validUntil = Math.min(now.getTime() + lifetime, record.tokenExpiresAt.getTime());
    if (forgettings === this.#forgettings) {
      this.#remember(key, { userId: record.userId, sessionId: record.sessionId, validUntil });
    }
    return { userId: record.userId, sessionId: record.sessionId };
  }

  /**
   * Trades a refresh token for new tokens. A refresh token that was already used means it was copied:
   * the whole session (every token descended from the same login) ends.
   */
  async refresh(refreshToken: string, client: ClientInfo = {}): Promise<IssuedTokens> {
    const invalid = new DomainError('unauthenticated', 'This refresh token is not valid; log in again.', {
      code: 'invalid-refresh-token',
    });
    if (!refreshToken.startsWith(REFRESH_PREFIX)) throw invalid;
    const hash = hashSecret(refreshToken);
    const record = await this.#store.findToken(hash);
    if (!record || record.kind !== 'refresh') throw invalid;
    const now = this.#now();
    if (record.endedAt !== null || !record.epochsCurrent || record.sessionExpiresAt <= now)
      throw sessionEnded();
    const { tokens, rows } = this.#newTokens(record.sessionId, now, record.sessionExpiresAt);
    if (record.usedAt !== null || !(await this.#store.rotate(hash, record.sessionId, rows, now))) {
      await this.#endForReuse(record.userId, record.sessionId, client);
      throw new DomainError(
        'unauthenticated',
        'This refresh token was already used, so the session has been ended to protect the account; log in again.',
        { code: 'refresh-token-reused' },
      );
    }
    return tokens;
  }

  list(userId: string, page: { limit: number; before?: Date }): Promise<SessionRow[]> {
    return this.#store.listLive(userId, this.#now(), page);
  }

  async end(userId: string, sessionId: string, reason: string): Promise<void> {
    if (!(await this.#store.end(userId, sessionId, reason, this.#now()))) {
      throw new DomainError('not_found', 'You have no such session.');
    }
    await this.#signals.publish('sessions-ended', [sessionId]);
    await this.#audit.append({
      actor: userSubject(userId),
      action: 'session.end',
      target: `session:${sessionId}`,
      details: { reason },
      detailsSubject: userSubject(userId),
    });
  }

  /** Ends every session of the user except `keepSessionId` (password change, "log out other devices"). */
  async endOthers(userId: string, keepSessionId: string, reason: string): Promise<void> {
    await this.#bumpUser(userId, reason, keepSessionId);
  }

  /** Ends every session of the user, in one row update however many there are. */
  async endAllForUser(userId: string, reason: string, actor = userSubject(userId)): Promise<void> {
    await this.#bumpUser(userId, reason, undefined, actor);
  }

  /** Ends every session of every user, in one row update. */
  async endEveryone(reason: string, actor: string): Promise<{ epoch: number }> {
    const epoch = await this.#store.bumpGlobalEpoch();
    await this.#signals.publish('global-epoch', [String(epoch)]);
    await this.#audit.append({
      actor,
      action: 'session.end_everyone',
      target: 'global',
      details: { reason, epoch },
    });
    return { epoch };
  }

  /**
   * Ends the sessions of these users (or of everyone) inside the caller's transaction `db`, without an audit
   * entry: incident response records each batch itself. Call the answer once `db` has committed, so every
   * node's cached tokens of those users go too.
   */
  async endWithin(db: Db, who: readonly string[] | 'everyone'): Promise<() => Promise<void>> {
    if (who === 'everyone') {
      const epoch = await this.#store.bumpGlobalEpoch(db);
      return () => this.#signals.publish('global-epoch', [String(epoch)]);
    }
    await this.#store.bumpUserEpochs(who, db);
    return () => this.#signals.publish('user-epochs', who);
  }

  /** Removes tokens and sessions that can no longer be used. */
  purge(): Promise<number> {
    return this.#store.purge(this.#now());
  }

  async #bumpUser(
    userId: string,
    reason: string,
    keepSessionId?: string,
    actor = userSubject(userId),
  ): Promise<void> {
    if (!(await this.#store.bumpUserEpoch(userId, keepSessionId))) {
      throw new DomainError('not_found', 'There is no such account.');
    }
    await this.#signals.publish('user-epochs', [userId]);
    await this.#audit.append({
      actor,
      action: keepSessionId ? 'session.end_others' : 'session.end_all',
      target: userSubject(userId),
      details: { reason, ...(keepSessionId ? { kept: keepSessionId } : {}) },
      detailsSubject: userSubject(userId),
    });
  }

  async #endForReuse(userId: string, sessionId: string, client: ClientInfo): Promise<void> {
    await this.#store.end(userId, sessionId, 'refresh-token-reuse', this.#now());
    await this.#signals.publish('sessions-ended', [sessionId]);
    await this.#audit.append({
      actor: 'anonymous',
      action: 'session.refresh_reuse',
      target: `session:${sessionId}`,
      details: { ip: client.ip ?? null, userAgent: client.userAgent ?? null },
      detailsSubject: userSubject(userId),
    });
  }

  #newTokens(
    sessionId: string,
    now: Date,
    sessionExpiresAt: Date,
  ): { tokens: IssuedTokens; rows: NewToken[] } {
    const accessToken = generateSecret('at');
    const refreshToken = generateSecret('rt');
    const accessExpiresAt = new Date(
      Math.min(now.getTime() + this.#settings.accessTokenTtlMs, sessionExpiresAt.getTime()),
    );
    return {
      tokens: {
        sessionId,
        accessToken,
        refreshToken,
        tokenType: 'Bearer',
        expiresIn: Math.round((accessExpiresAt.getTime() - now.getTime()) / 1000),
        refreshExpiresAt: sessionExpiresAt,
      },
      rows: [
        { hash: hashSecret(accessToken), kind: 'access', expiresAt: accessExpiresAt },
        { hash: hashSecret(refreshToken), kind: 'refresh', expiresAt: sessionExpiresAt },
      ],
    };
  }

  #remember(key: string, entry: CachedPrincipal): void {
    this.#cache.set(key, entry);
    if (this.#cache.size > this.#settings.cacheSize) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }

  #forget(predicate: (entry: CachedPrincipal) => boolean): void {
    this.#forgettings += 1;
    for (const [key, entry] of this.#cache) if (predicate(entry)) this.#cache.delete(key);
  }
}
