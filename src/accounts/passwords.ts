import { availableParallelism } from 'node:os';
import { hash, verify } from '@node-rs/argon2';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';
import { DomainError } from '../domain-error.js';

/** argon2id parameters; OWASP's minimum is m=19456 KiB, t=2, p=1. */
export interface Argon2Parameters {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** `Algorithm.Argon2id` of @node-rs/argon2, a const enum that isolated modules cannot read. */
const ARGON2ID = 2;

export const OWASP_ARGON2: Argon2Parameters = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;
/** zxcvbn's 0-4 scale; 3 refuses the common-password list and its simple variations. */
const MIN_STRENGTH_SCORE = 3;

/** Runs at most `limit` tasks at once, so a burst of logins queues instead of exhausting CPU and memory. */
class Semaphore {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.#free = limit;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free -= 1;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free += 1;
    }
  }
}

const PHC_PARAMETERS = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/;

/**
 * Hashes and checks people's passwords with argon2id. Hashing is bounded to one per core; a check against
 * an unknown account still runs a full hash (`verifyOrBurn`) so timing does not tell whether it exists.
 */
export class PasswordHasher {
  readonly parameters: Argon2Parameters;
  readonly #slots: Semaphore;
  #decoy: Promise<string> | undefined;

  constructor(parameters: Argon2Parameters = OWASP_ARGON2, concurrency = availableParallelism()) {
    this.parameters = parameters;
    this.#slots = new Semaphore(Math.max(1, concurrency));
  }

  hash(password: string): Promise<string> {
    return this.#slots.run(() => hash(password, { algorithm: ARGON2ID, ...this.parameters }));
  }

  /** False for a wrong password or an unreadable hash; never throws on the password itself. */
  async verify(storedHash: string, password: string): Promise<boolean> {
    return this.#slots.run(async () => {
      try {
        return await verify(storedHash, password);
      } catch {
        return false;
      }
    });
  }

  /** Checks against the stored hash, or burns the same time against a decoy when there is none. */
  async verifyOrBurn(storedHash: string | undefined, password: string): Promise<boolean> {
    if (storedHash !== undefined) return this.verify(storedHash, password);
    this.#decoy ??= this.hash('decoy password that no account has');
    await this.verify(await this.#decoy, password);
    return false;
  }

  /** True when the hash was made with other parameters than today's, so a login should rehash it. */
  needsRehash(storedHash: string): boolean {
    const match = PHC_PARAMETERS.exec(storedHash);
    if (!match) return true;
    const [, memoryCost, timeCost, parallelism] = match.map(Number);
    return (
      memoryCost !== this.parameters.memoryCost ||
      timeCost !== this.parameters.timeCost ||
      parallelism !== this.parameters.parallelism
    );
  }
}

let estimator: ZxcvbnFactory | undefined;

function strengthEstimator(): ZxcvbnFactory {
  estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...english.dictionary },
    graphs: common.adjacencyGraphs,
    translations: english.translations,
  });
  return estimator;
}

/**
 * NIST 800-63B / ASVS 6.2: 8 to 128 characters, any characters, no composition rules; refuse passwords
 * from the common and breached lists (and trivial variations of them or of the person's own details).
 * Throws an `invalid` DomainError whose message says what to do, never repeating the password.
 */
export async function assertAcceptablePassword(
  password: string,
  personalInputs: string[] = [],
): Promise<void> {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    throw new DomainError(
      'invalid',
      `A password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long.`,
      { code: 'weak-password', fields: [{ pointer: '/password', detail: 'has the wrong length' }] },
    );
  }
  const inputs = personalInputs.flatMap((input) => input.toLowerCase().split(/[\s@._-]+/)).filter(Boolean);
  const result = await strengthEstimator().check(password, inputs);
  if (result.score < MIN_STRENGTH_SCORE) {
    const reason = result.feedback.warning ?? 'This password is too easy to guess.';
    throw new DomainError(
      'invalid',
      `${reason} Choose a longer password, for example a few unrelated words.`,
      { code: 'weak-password', fields: [{ pointer: '/password', detail: 'is too easy to guess' }] },
    );
  }
}
