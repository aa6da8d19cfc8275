import { randomUUID } from 'node:crypto';
import type { PersonalDataSource } from '../accounts/export.js';
import type { AuditLog } from '../audit/log.js';
import type { ScaleMeasurementSink } from '../devices/ports.js';
import { DomainError } from '../domain-error.js';
import { type HomeAccess, type HomeRole, homeSubject, roleAtLeast } from '../homes/access.js';
import { decodeCursor, encodeCursor } from '../store/cursor.js';
import {
  type BodyProfile,
  type BodyProfileFields,
  birthDateProblem,
  bodyMassIndex,
  type ScaleReading,
} from './schema.js';
import type { NewReading, PagePosition, ScaleStore } from './store.js';

export interface ScaleDependencies {
  store: ScaleStore;
  homes: HomeAccess;
  audit: Pick<AuditLog, 'append'>;
  clock?: () => Date;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

type Batch = Parameters<ScaleMeasurementSink['recordMeasurements']>[0];

const EXPORT_PAGE = 500;

const profileNotFound = () =>
  new DomainError('not_found', 'No such body profile.', { code: 'body-profile-not-found' });
const readingNotFound = () =>
  new DomainError('not_found', 'No such scale reading.', { code: 'scale-reading-not-found' });

function invalidBirthDate(problem: string): DomainError {
  return new DomainError('invalid', 'The birth date is not acceptable; see errors.', {
    code: 'invalid-birth-date',
    fields: [{ pointer: '/birthDate', detail: problem }],
  });
}

/**
 * Body profiles of a home's household members and the readings their scale takes. Body metrics belong to
 * the person they describe: a profile linked to an account is seen by that person alone; an unlinked one
 * (a child, a member without an account) by whoever created it and the home's admins and owners. Everyone
 * else is told the profile does not exist. A reading is stored only while consent is on record.
 */
export class ScaleService implements ScaleMeasurementSink {
  readonly #store: ScaleStore;
  readonly #homes: HomeAccess;
  readonly #audit: ScaleDependencies['audit'];
  readonly #clock: () => Date;

  constructor(deps: ScaleDependencies) {
    this.#store = deps.store;
    this.#homes = deps.homes;
    this.#audit = deps.audit;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /** The caller's role in the home, or the profile's own not-found when they are not a member. */
  async #roleIn(userId: string, homeId: string): Promise<HomeRole> {
    try {
      return await this.#homes.requireRole(userId, homeId, 'guest');
    } catch (error) {
      if (error instanceof DomainError && error.kind === 'not_found') throw profileNotFound();
      throw error;
    }
  }

  /** The profile's plain columns when the caller may see it; otherwise the same 404 as a missing id. */
  async #requireVisible(userId: string, profileId: string) {
    const profile = await this.#store.getAccessInfo(profileId);
    if (!profile) throw profileNotFound();
    const role = await this.#roleIn(userId, profile.homeId);
    const visible = profile.userId
      ? profile.userId === userId
      : profile.createdBy === userId || roleAtLeast(role, 'admin');
    if (!visible) throw profileNotFound();
    return profile;
  }

  async #audited(userId: string, action: string, profile: { id: string; homeId: string }, details = {}) {
    await this.#audit.append({
      actor: `user:${userId}`,
      action,
      target: `body-profile:${profile.id}`,
      details: { homeId: profile.homeId, ...details },
      detailsSubject: homeSubject(profile.homeId),
    });
  }

  #checkBirthDate(birthDate: string): void {
    const problem = birthDateProblem(birthDate, this.#clock());
    if (problem) throw invalidBirthDate(problem);
  }

  /** Members, admins and owners may add profiles; guests may not. A linked account must be in the home. */
  async createProfile(
    userId: string,
    homeId: string,
    input: BodyProfileFields & { userId?: string | null },
  ): Promise<BodyProfile> {
    await this.#homes.requireRole(userId, homeId, 'member');
    this.#checkBirthDate(input.birthDate);
    const linked = input.userId ?? null;
    if (linked && linked !== userId) {
      try {
        await this.#homes.requireRole(linked, homeId, 'guest');
      } catch (error) {
        if (!(error instanceof DomainError && error.kind === 'not_found')) throw error;
        throw new DomainError('invalid', 'A body profile can describe only a member of its home.', {
          code: 'body-profile-user-not-member',
          fields: [{ pointer: '/userId', detail: 'is not a member of this home' }],
        });
      }
    }
    const { name, heightCm, birthDate, sex } = input;
    return this.#store.insertProfile({
      id: randomUUID(),
      homeId,
      userId: linked,
      createdBy: userId,
      fields: { name, heightCm, birthDate, sex },
      now: this.#clock(),
    });
  }

  /** The home's profiles the caller may see, oldest first. */
  async listProfiles(
    userId: string,
    homeId: string,
    page: { limit: number; cursor?: string },
  ): Promise<Page<BodyProfile>> {
    const role = await this.#homes.requireRole(userId, homeId, 'guest');
    const rows = await this.#store.listProfiles(
      homeId,
      { userId, allUnlinked: roleAtLeast(role, 'admin') },
      { limit: page.limit + 1, ...(page.cursor ? { after: decodeCursor(page.cursor) } : {}) },
    );
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return {
      items,
      next: rows.length > page.limit && last ? encodeCursor({ at: last.createdAt, id: last.id }) : null,
    };
  }

  async getProfile(userId: string, profileId: string): Promise<BodyProfile> {
    await this.#requireVisible(userId, profileId);
    const profile = await this.#store.getProfile(profileId);
    if (!profile) throw profileNotFound();
    return profile;
  }

  async updateProfile(
    userId: string,
    profileId: string,
    patch: Partial<BodyProfileFields>,
  ): Promise<BodyProfile> {
    const current = await this.getProfile(userId, profileId);
    if (patch.birthDate !== undefined) this.#checkBirthDate(patch.birthDate);
    const fields: BodyProfileFields = {
      name: patch.name ?? current.name,
      heightCm: patch.heightCm ?? current.heightCm,
      birthDate: patch.birthDate ?? current.birthDate,
      sex: patch.sex ?? current.sex,
    };
    // Both ids as the database holds them: they are bound into the sealed profile.
    return this.#store.updateProfile(current.id, current.homeId, fields, this.#clock());
  }

  /** Deletes the profile with all its readings. */
  async deleteProfile(userId: string, profileId: string): Promise<void> {
    const profile = await this.#requireVisible(userId, profileId);
    const readingsDeleted = await this.#store.deleteProfile(profileId);
    await this.#audited(userId, 'scale.profile.delete', profile, { readingsDeleted });
  }

  /**
   * Records consent to store readings: by the person the profile describes, or, for a profile without an
   * account, by its creator or an admin or owner acting for that person. Giving it again changes nothing.
   */
  async giveConsent(userId: string, profileId: string): Promise<BodyProfile> {
    const profile = await this.#requireVisible(userId, profileId);
    if (await this.#store.giveConsent(profileId, userId, this.#clock())) {
      await this.#audited(userId, 'scale.consent.give', profile);
    }
    return this.getProfile(userId, profileId);
  }

  /** Withdraws consent and deletes every reading of the profile, at once. */
  async withdrawConsent(userId: string, profileId: string): Promise<BodyProfile> {
    const profile = await this.#requireVisible(userId, profileId);
    const withdrawn = await this.#store.withdrawConsent(profileId);
    if (withdrawn) await this.#audited(userId, 'scale.consent.withdraw', profile, withdrawn);
    return this.getProfile(userId, profileId);
  }

  /** The profile's readings, newest first; `from` inclusive, `to` exclusive. */
  async listReadings(
    userId: string,
    profileId: string,
    query: { limit: number; cursor?: string; from?: Date; to?: Date },
  ): Promise<Page<ScaleReading>> {
    const profile = await this.#requireVisible(userId, profileId);
    if (query.from && query.to && query.from > query.to) {
      throw new DomainError('invalid', 'The time range ends before it starts.', {
        code: 'invalid-time-range',
        fields: [{ in: 'query', pointer: '/from', detail: 'must not be after to' }],
      });
    }
    const rows = await this.#store.listReadings(profileId, profile.homeId, {
      limit: query.limit + 1,
      ...(query.from ? { from: query.from } : {}),
      ...(query.to ? { to: query.to } : {}),
      ...(query.cursor ? { before: decodeCursor(query.cursor) } : {}),
    });
    const items = rows.slice(0, query.limit);
    const last = items.at(-1);
    return {
      items,
      next: rows.length > query.limit && last ? encodeCursor({ at: last.measuredAt, id: last.id }) : null,
    };
  }

  async deleteReading(userId: string, profileId: string, readingId: string): Promise<void> {
    const profile = await this.#requireVisible(userId, profileId);
    if (!(await this.#store.deleteReading(profileId, readingId))) throw readingNotFound();
    await this.#audited(userId, 'scale.reading.delete', profile, { readingId });
  }

  /** Deletes every reading of the profile; the profile and its consent stay. */
  async deleteReadings(userId: string, profileId: string): Promise<number> {
    const profile = await this.#requireVisible(userId, profileId);
    const readingsDeleted = await this.#store.deleteReadings(profileId);
    await this.#audited(userId, 'scale.readings.delete', profile, { readingsDeleted });
    return readingsDeleted;
  }

  /**
   * Stores what scales measured, for profiles of the scale's own home with consent on record; drops the rest
   * (no profile slot, another home's profile, no consent). BMI is computed from the profile's height when
   * the scale did not send it.
   */
  async recordMeasurements(batch: Batch): Promise<{ stored: number; dropped: number }> {
    const wanted = new Map<string, Set<string>>();
    for (const { device, measurement } of batch) {
      if (!measurement.profileId) continue;
      const ids = wanted.get(device.homeId) ?? new Set<string>();
      ids.add(measurement.profileId);
      wanted.set(device.homeId, ids);
    }
    const heights = new Map<string, number>();
    for (const [homeId, ids] of wanted) {
      for (const profile of await this.#store.consentedProfiles(homeId, [...ids])) {
        heights.set(`${homeId}/${profile.id}`, profile.heightCm);
      }
    }
    const readings: NewReading[] = [];
    for (const { device, measurement, measuredAt } of batch) {
      const { profileId, ...figures } = measurement;
      const heightCm = profileId && heights.get(`${device.homeId}/${profileId}`);
      if (!profileId || !heightCm) continue;
      readings.push({
        id: randomUUID(),
        profileId,
        homeId: device.homeId,
        deviceId: device.id,
        measuredAt,
        figures: { ...figures, bmi: figures.bmi ?? bodyMassIndex(figures.weightKg, heightCm) },
      });
    }
    const stored = await this.#store.insertReadings(readings);
    return { stored, dropped: batch.length - stored };
  }

  /** My share of the scale's data: the profiles that are mine, with their readings; erasure deletes mine. */
  personalDataSource(): PersonalDataSource {
    return {
      section: 'bodyProfiles',
      export: async (userId) => {
        const profiles = await this.#store.listOwnProfiles(userId);
        return Promise.all(
          profiles.map(async (profile) => ({ ...profile, readings: await this.#allReadings(profile) })),
        );
      },
      erase: async (userId) => {
        for (const profile of await this.#store.deleteProfilesLinkedTo(userId)) {
          await this.#audited(userId, 'scale.profile.delete', profile, { reason: 'account-deleted' });
        }
      },
    };
  }

  async #allReadings(profile: BodyProfile): Promise<ScaleReading[]> {
    const all: ScaleReading[] = [];
    let before: PagePosition | undefined;
    for (;;) {
      const page = await this.#store.listReadings(profile.id, profile.homeId, {
        limit: EXPORT_PAGE,
        ...(before ? { before } : {}),
      });
      all.push(...page);
      const last = page.at(-1);
      if (page.length < EXPORT_PAGE || !last) return all;
      before = { at: last.measuredAt, id: last.id };
    }
  }
}
