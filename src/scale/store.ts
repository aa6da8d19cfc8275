import type { Expression, Selectable, SqlBool } from 'kysely';
import type { Sealer } from '../crypto/sealer.js';
import { homeSubject } from '../homes/access.js';
import type { Db } from '../store/database.js';
import type { BodyProfilesTable } from '../store/types.js';
import type { BodyProfile, BodyProfileFields, ReadingFigures, ScaleReading } from './schema.js';

/** A keyset position: the last row of the previous page. */
export interface PagePosition {
  at: Date;
  id: string;
}

export interface NewReading {
  id: string;
  profileId: string;
  homeId: string;
  deviceId: string;
  measuredAt: Date;
  figures: ReadingFigures;
}

/** Which of a home's profiles a caller may list (see ScaleService for the rule). */
export interface ProfileFilter {
  userId: string;
  /** Admins and owners also see the home's profiles that describe no account. */
  allUnlinked: boolean;
}

const profileField = (id: string) => ({ table: 'body_profiles', column: 'profile', rowId: id });
const readingField = (id: string) => ({ table: 'scale_readings', column: 'reading', rowId: id });

const PROFILE_COLUMNS = [
  'id',
  'home_id',
  'user_id',
  'created_by',
  'profile',
  'consent_given_at',
  'consent_given_by',
  'created_at',
  'updated_at',
] as const;
type ProfileRow = Pick<Selectable<BodyProfilesTable>, (typeof PROFILE_COLUMNS)[number]>;

/**
 * Body profiles and scale readings. Both are sealed whole under the home's key (one JSON column each); ids,
 * links, consent and measurement times stay plain for access checks, ordering and paging.
 */
export class ScaleStore {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {}

  private async openProfile(row: ProfileRow): Promise<BodyProfile> {
    const fields = await this.sealer.openJson<BodyProfileFields>(
      homeSubject(row.home_id),
      profileField(row.id),
      Buffer.from(row.profile),
    );
    return {
      id: row.id,
      homeId: row.home_id,
      userId: row.user_id,
      createdBy: row.created_by,
      name: fields.name,
      heightCm: fields.heightCm,
      birthDate: fields.birthDate,
      sex: fields.sex,
      consentGivenAt: row.consent_given_at,
      consentGivenBy: row.consent_given_by,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  private sealProfile(homeId: string, id: string, fields: BodyProfileFields): Promise<Buffer> {
    const { name, heightCm, birthDate, sex } = fields;
    return this.sealer.sealJson(homeSubject(homeId), profileField(id), { name, heightCm, birthDate, sex });
  }

  async insertProfile(input: {
    id: string;
    homeId: string;
    userId: string | null;
    createdBy: string;
    fields: BodyProfileFields;
    now: Date;
  }): Promise<BodyProfile> {
    const row = await this.db
      .insertInto('body_profiles')
      .values({
        id: input.id,
        home_id: input.homeId,
        user_id: input.userId,
        created_by: input.createdBy,
        profile: await this.sealProfile(input.homeId, input.id, input.fields),
        created_at: input.now,
        updated_at: input.now,
      })
      .returning(PROFILE_COLUMNS)
      .executeTakeFirstOrThrow();
    return this.openProfile(row);
  }

  /** The profile's plain columns only: enough to decide who may see it, without opening anything. */
  async getAccessInfo(
    id: string,
  ): Promise<{ id: string; homeId: string; userId: string | null; createdBy: string | null } | undefined> {
    const row = await this.db
      .selectFrom('body_profiles')
      .select(['id', 'home_id', 'user_id', 'created_by'])
      .where('id', '=', id)
      .executeTakeFirst();
    return row && { id: row.id, homeId: row.home_id, userId: row.user_id, createdBy: row.created_by };
  }

  async getProfile(id: string): Promise<BodyProfile | undefined> {
    const row = await this.db
      .selectFrom('body_profiles')
      .select(PROFILE_COLUMNS)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && this.openProfile(row);
  }

  /** The home's profiles the filter lets through, oldest first. */
  async listProfiles(
    homeId: string,
    filter: ProfileFilter,
    page: { limit: number; after?: PagePosition },
  ): Promise<BodyProfile[]> {
    let query = this.db
      .selectFrom('body_profiles')
      .select(PROFILE_COLUMNS)
      .where('home_id', '=', homeId)
      .where((eb) => {
        const visible: Expression<SqlBool>[] = [
          eb('user_id', '=', filter.userId),
          eb.and([eb('user_id', 'is', null), eb('created_by', '=', filter.userId)]),
        ];
        if (filter.allUnlinked) visible.push(eb('user_id', 'is', null));
        return eb.or(visible);
      })
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .limit(page.limit);
    const after = page.after;
    if (after) {
      query = query.where((eb) => eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after.at, after.id)));
    }
    const rows = await query.execute();
    return Promise.all(rows.map((row) => this.openProfile(row)));
  }

  async updateProfile(
    id: string,
    homeId: string,
    fields: BodyProfileFields,
    now: Date,
  ): Promise<BodyProfile> {
    const row = await this.db
      .updateTable('body_profiles')
      .set({ profile: await this.sealProfile(homeId, id, fields), updated_at: now })
      .where('id', '=', id)
      .where('home_id', '=', homeId)
      .returning(PROFILE_COLUMNS)
      .executeTakeFirstOrThrow();
    return this.openProfile(row);
  }

  /** Deletes the profile and (by cascade) its readings; the number of readings that went with it. */
  async deleteProfile(id: string): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const readings = await trx.deleteFrom('scale_readings').where('profile_id', '=', id).executeTakeFirst();
      await trx.deleteFrom('body_profiles').where('id', '=', id).execute();
      return Number(readings.numDeletedRows);
    });
  }

  /** Records consent unless it is already on record; true when this call recorded it. */
  async giveConsent(id: string, by: string, now: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('body_profiles')
      .set({ consent_given_at: now, consent_given_by: by })
      .where('id', '=', id)
      .where('consent_given_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Withdraws consent and deletes every reading of the profile in one transaction, so no reading outlives
   * the consent it was stored under. Null when no consent was on record (nothing changed).
   */
  async withdrawConsent(id: string): Promise<{ readingsDeleted: number } | null> {
    return this.db.transaction().execute(async (trx) => {
      const withdrawn = await trx
        .updateTable('body_profiles')
        .set({ consent_given_at: null, consent_given_by: null })
        .where('id', '=', id)
        .where('consent_given_at', 'is not', null)
        .executeTakeFirst();
      const readings = await trx.deleteFrom('scale_readings').where('profile_id', '=', id).executeTakeFirst();
      if (withdrawn.numUpdatedRows === 0n) return null;
      return { readingsDeleted: Number(readings.numDeletedRows) };
    });
  }

  /** The profiles among `ids` that belong to the home and have consent on record, opened. */
  async consentedProfiles(homeId: string, ids: string[]): Promise<BodyProfile[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('body_profiles')
      .select(PROFILE_COLUMNS)
      .where('home_id', '=', homeId)
      .where('id', 'in', ids)
      .where('consent_given_at', 'is not', null)
      .execute();
    return Promise.all(rows.map((row) => this.openProfile(row)));
  }

  /**
   * Stores readings in one multi-row insert, keeping only those whose profile still has consent on record
   * when the transaction runs: the profile rows are locked against a concurrent withdrawal, so a reading
   * cannot slip in after consent was withdrawn and its readings deleted. Returns how many were stored.
   */
  async insertReadings(readings: NewReading[]): Promise<number> {
    if (readings.length === 0) return 0;
    // Sealed before the transaction: the key vault may need the database, which a PGlite transaction holds.
    const rows = await Promise.all(
      readings.map(async (reading) => ({
        id: reading.id,
        profile_id: reading.profileId,
        home_id: reading.homeId,
        device_id: reading.deviceId,
        measured_at: reading.measuredAt,
        reading: await this.sealer.sealJson(
          homeSubject(reading.homeId),
          readingField(reading.id),
          reading.figures,
        ),
      })),
    );
    const profileIds = [...new Set(readings.map((reading) => reading.profileId))];
    return this.db.transaction().execute(async (trx) => {
      const consented = await trx
        .selectFrom('body_profiles')
        .select(['id', 'home_id'])
        .where('id', 'in', profileIds)
        .where('consent_given_at', 'is not', null)
        .forShare()
        .execute();
      const homeOf = new Map(consented.map((profile) => [profile.id, profile.home_id]));
      const allowed = rows.filter((row) => homeOf.get(row.profile_id) === row.home_id);
      if (allowed.length === 0) return 0;
      await trx.insertInto('scale_readings').values(allowed).execute();
      return allowed.length;
    });
  }

  /** The profile's readings, newest first. */
  async listReadings(
    profileId: string,
    homeId: string,
    page: { limit: number; from?: Date; to?: Date; before?: PagePosition },
  ): Promise<ScaleReading[]> {
    let query = this.db
      .selectFrom('scale_readings')
      .select(['id', 'profile_id', 'home_id', 'device_id', 'measured_at', 'reading'])
      .where('profile_id', '=', profileId)
      .orderBy('measured_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit);
    if (page.from) query = query.where('measured_at', '>=', page.from);
    if (page.to) query = query.where('measured_at', '<', page.to);
    const before = page.before;
    if (before) {
      query = query.where((eb) => eb(eb.refTuple('measured_at', 'id'), '<', eb.tuple(before.at, before.id)));
    }
    const rows = await query.execute();
    return Promise.all(
      rows.map(async (row) => {
        const figures = await this.sealer.openJson<ReadingFigures>(
          homeSubject(homeId),
          readingField(row.id),
          Buffer.from(row.reading),
        );
        return {
          ...figures,
          id: row.id,
          profileId: row.profile_id,
          deviceId: row.device_id,
          measuredAt: row.measured_at,
        };
      }),
    );
  }

  async deleteReading(profileId: string, readingId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('scale_readings')
      .where('id', '=', readingId)
      .where('profile_id', '=', profileId)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async deleteReadings(profileId: string): Promise<number> {
    const result = await this.db
      .deleteFrom('scale_readings')
      .where('profile_id', '=', profileId)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** The profiles that are the person's own: linked to them, or made by them and describing no account. */
  async listOwnProfiles(userId: string): Promise<BodyProfile[]> {
    const rows = await this.db
      .selectFrom('body_profiles')
      .select(PROFILE_COLUMNS)
      .where((eb) =>
        eb.or([
          eb('user_id', '=', userId),
          eb.and([eb('user_id', 'is', null), eb('created_by', '=', userId)]),
        ]),
      )
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return Promise.all(rows.map((row) => this.openProfile(row)));
  }

  /** Deletes the profiles linked to the person (readings go by cascade); their ids and homes. */
  async deleteProfilesLinkedTo(userId: string): Promise<{ id: string; homeId: string }[]> {
    const rows = await this.db
      .deleteFrom('body_profiles')
      .where('user_id', '=', userId)
      .returning(['id', 'home_id'])
      .execute();
    return rows.map((row) => ({ id: row.id, homeId: row.home_id }));
  }
}
