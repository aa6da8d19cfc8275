import { randomBytes } from 'node:crypto';
import type { NodeSignals } from '../cluster/signals.js';
import { hasOnlyCanonicalIds, lowerCaseIds, upperCaseIds } from '../schema/ids.js';
import type { Db } from '../store/database.js';
import { DekCache } from './dek-cache.js';
import type { ErasureRecorder } from './erasure-journal.js';
import { KeyError, NonCanonicalIdError, SealedFieldError } from './errors.js';
import { isForeignKeyViolation, KekRegistry } from './kek-registry.js';
import type { Keyring } from './keyring.js';

export const DEK_BYTES = 32;
const CURRENT_DEK_VERSION = 1;
/** Subjects per query of `keysFor`. */
const KEYS_PER_QUERY = 1000;

/** Subjects the system itself owns (blind-index and audit roots); they can never be destroyed. */
export const SYSTEM_SUBJECT_PREFIX = 'system:';

export interface DataKey {
  version: number;
  key: Buffer;
}

export interface KeyVaultOptions {
  db: Db;
  keyring: Keyring;
  cache?: { size: number; ttlMs: number };
  /** Erasures travel to every node's DEK cache over it (subjects only); without it, this node's alone. */
  signals?: Pick<NodeSignals, 'publish' | 'subscribe'>;
  /** The erasure journal a restore re-applies; told before any key is destroyed. */
  erasures?: ErasureRecorder;
}

const SUBJECT_PATTERN = /^[a-z]+:[A-Za-z0-9._-]{1,128}$/;

export function assertSubject(subject: string): void {
  if (!SUBJECT_PATTERN.test(subject)) {
    throw new KeyError(`A key subject is written kind:id, such as user:42 (got an invalid subject)`);
  }
}

/**
 * One data-encryption key per subject (a user, a home), stored wrapped by the current KEK. Destroying a
 * subject's key crypto-shreds every value sealed under it, in this database and in every copy of it.
 */
export class KeyVault {
  private readonly db: Db;
  readonly keyring: Keyring;
  private readonly cache: DekCache;
  private readonly registry: KekRegistry;
  private readonly erasures: ErasureRecorder | null;
  /** The KEK version this node last registered; new keys are wrapped by it. */
  private registeredVersion: number | null = null;
  private readonly signals: Pick<NodeSignals, 'publish'> | undefined;

  constructor(options: KeyVaultOptions) {
    this.db = options.db;
    this.keyring = options.keyring;
    this.registry = new KekRegistry(options.db);
    this.erasures = options.erasures ?? null;
    this.cache = new DekCache(options.cache?.size ?? 10_000, options.cache?.ttlMs ?? 300_000);
    this.signals = options.signals;
    options.signals?.subscribe('keys-destroyed', {
      received: (subjects) => this.forgetCached(subjects),
      // Erasures may have gone unheard: every key is read from the vault again.
      missed: () => this.cache.deleteWhere(() => true),
    });
  }

  /** Drops these subjects' cached keys (every DEK version); the vault table answers from now on. */
  private forgetCached(subjects: readonly string[]): void {
    const prefixes = subjects.map((subject) => `${subject}\u0000`);
    this.cache.deleteWhere((id) => prefixes.some((prefix) => id.startsWith(prefix)));
  }

  /** DEK cache look-ups since start, answered from memory (hits) or the vault table (misses). */
  cacheStats(): { hits: number; misses: number; size: number } {
    return { hits: this.cache.hits, misses: this.cache.misses, size: this.cache.size };
  }

  /** The key to seal new values with: the subject's current DEK, created on first use. */
  async currentKey(subject: string): Promise<DataKey> {
    const cached = this.cache.get(cacheId(subject, CURRENT_DEK_VERSION));
    if (cached) return { version: CURRENT_DEK_VERSION, key: cached };
    const existing = await this.load(subject, CURRENT_DEK_VERSION);
    if (existing) return { version: CURRENT_DEK_VERSION, key: existing };
    return { version: CURRENT_DEK_VERSION, key: await this.create(subject, CURRENT_DEK_VERSION) };
  }

  /** The key a stored value names; fails clearly when the subject was erased or never had one. */
  async keyFor(subject: string, version: number): Promise<Buffer> {
    const cached = this.cache.get(cacheId(subject, version));
    if (cached) return cached;
    const key = await this.load(subject, version);
    if (!key) throw new SealedFieldError('No data key exists for this value', 'missing-key');
    return key;
  }

  /**
   * The keys of many subjects at one DEK version, with one query for those not cached (a batch of users
   * opened together). A subject whose key was erased or never existed is absent from the result; `keyFor`
   * says which.
   */
  async keysFor(subjects: Iterable<string>, version: number): Promise<Map<string, Buffer>> {
    const keys = new Map<string, Buffer>();
    const uncached: string[] = [];
    for (const subject of new Set(subjects)) {
      assertSubject(subject);
      const cached = this.cache.get(cacheId(subject, version));
      if (cached) keys.set(subject, cached);
      else uncached.push(subject);
    }
    for (let from = 0; from < uncached.length; from += KEYS_PER_QUERY) {
      const rows = await this.db
        .selectFrom('key_vault')
        .select(['subject', 'kek_version', 'wrapped_dek'])
        .where('subject', 'in', uncached.slice(from, from + KEYS_PER_QUERY))
        .where('dek_version', '=', version)
        .where('wrapped_dek', 'is not', null)
        .execute();
      for (const row of rows) {
        const key = await this.keyring.unwrap(row.wrapped_dek as Buffer, row.kek_version as number, {
          subject: row.subject,
          dekVersion: version,
        });
        this.cache.set(cacheId(row.subject, version), key);
        keys.set(row.subject, key);
      }
    }
    return keys;
  }

  private async load(subject: string, version: number): Promise<Buffer | null> {
    assertSubject(subject);
    const row = await this.db
      .selectFrom('key_vault')
      .select(['kek_version', 'wrapped_dek', 'destroyed_at'])
      .where('subject', '=', subject)
      .where('dek_version', '=', version)
      .executeTakeFirst();
    if (!row) return null;
    if (row.wrapped_dek === null) {
      throw new SealedFieldError('This subject was erased; its data can no longer be opened', 'erased');
    }
    const key = await this.keyring.unwrap(row.wrapped_dek, row.kek_version as number, {
      subject,
      dekVersion: version,
    });
    this.cache.set(cacheId(subject, version), key);
    return key;
  }

  private async create(subject: string, version: number): Promise<Buffer> {
    // A key for `home:<ID in upper case>` would seal values that the home's own key can never open.
    if (!hasOnlyCanonicalIds(subject)) {
      throw new NonCanonicalIdError(
        'Refusing to create a data key for a subject whose id is not in lower case',
      );
    }
    const dek = randomBytes(DEK_BYTES);
    let inserted: { numInsertedOrUpdatedRows?: bigint };
    try {
      inserted = await this.insertWrapped(subject, version, dek);
    } catch (error) {
      // Another node rotated and retired the KEK this node still had as current: learn the new one.
      if (!isForeignKeyViolation(error)) throw error;
      await this.keyring.load();
      this.registeredVersion = null;
      inserted = await this.insertWrapped(subject, version, dek);
    }
    if (inserted.numInsertedOrUpdatedRows === 0n) {
      // Another request created the key first (or the subject was erased): use what is stored.
      const stored = await this.load(subject, version);
      if (!stored) throw new KeyError(`The data key of ${subject} vanished while being created`);
      return stored;
    }
    this.cache.set(cacheId(subject, version), dek);
    return dek;
  }

  private async insertWrapped(subject: string, version: number, dek: Buffer) {
    const { kekVersion, wrapped } = await this.keyring.wrap(dek, { subject, dekVersion: version });
    if (this.registeredVersion !== kekVersion) {
      await this.registry.register(kekVersion);
      this.registeredVersion = kekVersion;
    }
    return this.db
      .insertInto('key_vault')
      .values({ subject, dek_version: version, kek_version: kekVersion, wrapped_dek: wrapped })
      .onConflict((conflict) => conflict.columns(['subject', 'dek_version']).doNothing())
      .executeTakeFirst();
  }

  /** Of the given subjects, those that still hold a usable data key (the erasure journal's check). */
  async liveAmong(subjects: readonly string[]): Promise<string[]> {
    const live: string[] = [];
    for (let from = 0; from < subjects.length; from += KEYS_PER_QUERY) {
      const rows = await this.db
        .selectFrom('key_vault')
        .select('subject')
        .distinct()
        .where('subject', 'in', subjects.slice(from, from + KEYS_PER_QUERY))
        .where('wrapped_dek', 'is not', null)
        .execute();
      live.push(...rows.map((row) => row.subject));
    }
    return live;
  }

  /**
   * How many subjects the vault holds erased that `journalled` does not name (the doctor's check that this
   * node's erasure journal has every erasure). Read in pages, by subject.
   */
  async countErasedOutside(journalled: ReadonlySet<string>): Promise<number> {
    let outside = 0;
    for (let after = ''; ; ) {
      const rows = await this.db
        .selectFrom('key_vault')
        .select('subject')
        .distinct()
        .where('wrapped_dek', 'is', null)
        .where('subject', '>', after)
        .orderBy('subject')
        .limit(KEYS_PER_QUERY)
        .execute();
      for (const { subject } of rows) if (!journalled.has(lowerCaseIds(subject))) outside++;
      const last = rows.at(-1);
      if (!last || rows.length < KEYS_PER_QUERY) return outside;
      after = last.subject;
    }
  }

  /** Crypto-shreds a subject: every value sealed under its keys becomes unreadable for good. */
  async destroy(subject: string): Promise<{ keysDestroyed: number }> {
    assertSubject(subject);
    if (subject.startsWith(SYSTEM_SUBJECT_PREFIX)) {
      throw new KeyError(`${subject} belongs to the system and cannot be destroyed`);
    }
    const now = new Date();
    // Journalled first: a restore of an older backup must never bring this subject back.
    await this.erasures?.record(lowerCaseIds(subject), now);
    // Earlier versions could create a key under the upper-case spelling of an id sent by a client; erasure
    // takes every spelling it can name, so nothing sealed under such a key outlives the subject.
    const canonical = lowerCaseIds(subject);
    const spellings = [...new Set([subject, canonical, upperCaseIds(subject)])];
    const destroyed = await this.db
      .updateTable('key_vault')
      .set({ wrapped_dek: null, kek_version: null, destroyed_at: now })
      .where('subject', 'in', spellings)
      .where('wrapped_dek', 'is not', null)
      .executeTakeFirst();
    // A tombstone keeps the subject from quietly getting a fresh key and looking alive again.
    await this.db
      .insertInto('key_vault')
      .values({
        subject: canonical,
        dek_version: CURRENT_DEK_VERSION,
        kek_version: null,
        wrapped_dek: null,
        destroyed_at: now,
      })
      .onConflict((conflict) => conflict.columns(['subject', 'dek_version']).doNothing())
      .execute();
    if (this.signals) await this.signals.publish('keys-destroyed', spellings);
    else this.forgetCached(spellings);
    return { keysDestroyed: Number(destroyed.numUpdatedRows) };
  }
}

function cacheId(subject: string, version: number): string {
  return `${subject}\u0000${version}`;
}
