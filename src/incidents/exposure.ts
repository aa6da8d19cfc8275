import type { RawBuilder } from 'kysely';
import type { DeviceModel } from '../devices/catalog.js';
import type { DataCategory } from './categories.js';

/**
 * The exposure port: how the resolver asks each domain "which of my people had data of these categories
 * during this window?" without naming the domain's tables. Each domain answers with SQL fragments that the
 * resolver composes into its one statement (see resolver.ts), so the answer stays set-based at millions of
 * customers. Domains implement these shapes structurally, without importing this module, so that no
 * domain folder depends on incidents.
 *
 * The composed statement's contract: the CTE `pop (user_id)` holds the population; a domain's CTEs may read
 * it and their own earlier CTEs, and their names must not clash with another domain's.
 */
export interface ExposureQuestion {
  from: Date;
  to: Date;
  /** Whether the incident lists this category; a domain adds nothing for categories not listed. */
  listed: (category: DataCategory) => boolean;
  /** The category's bit in the affected-set snapshot. */
  bit: (category: DataCategory) => number;
}

export interface ExposureAnswer {
  /** `name as (…)` sub-queries, in order. */
  ctes?: RawBuilder<unknown>[];
  /** Selects of `(user_id, bits int)` rows: the person, and the categories of theirs this domain held. */
  rows?: RawBuilder<unknown>[];
  /** Record-count expressions; the resolver adds up the domains' counts of one category. */
  records?: ReadonlyArray<readonly [DataCategory, RawBuilder<unknown>]>;
}

export interface ExposureSource {
  /** The domain answering, for error messages and for reading plans. */
  domain: string;
  answer(question: ExposureQuestion): ExposureAnswer;
}

/** How a scope narrows the population (accounts applies it to its own people). */
export interface PeopleNarrowing {
  createdBefore?: Date;
  userIds?: readonly string[];
  /** A select of `user_id`, from another domain (the device-owners scope). */
  among?: RawBuilder<unknown>;
}

/** The people an incident can concern at all: those with an account by `to`. */
export type PopulationPort = (to: Date, narrow: PeopleNarrowing) => RawBuilder<unknown>;

/** A select of `user_id`: who could see a device of this model paired by `to` (the device-owners scope). */
export type DeviceOwnersPort = (model: DeviceModel, to: Date) => RawBuilder<unknown>;

/** The domains' exposure ports, registered in the composition root, asked in the order they registered. */
export class ExposureRegistry {
  readonly #sources: ExposureSource[] = [];

  constructor(
    readonly population: PopulationPort,
    readonly deviceOwners: DeviceOwnersPort,
  ) {}

  register(source: ExposureSource): void {
    if (this.#sources.some((existing) => existing.domain === source.domain)) {
      throw new Error(`An exposure source of ${source.domain} is already registered`);
    }
    this.#sources.push(source);
  }

  get sources(): readonly ExposureSource[] {
    return this.#sources;
  }
}
