import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { DeviceModel } from '../../src/devices/catalog.js';
import type { DataCategory } from '../../src/incidents/categories.js';
import type { Db } from '../../src/store/database.js';
import type { HomeRole } from '../../src/store/types.js';

/**
 * Rows written straight into the tables the resolver reads. Sealed columns hold arbitrary bytes: the
 * resolver only ever asks whether a value is there.
 */
const bytes = () => randomBytes(16);

export class PopulationBuilder {
  constructor(private readonly db: Db) {}

  async user(createdAt: Date): Promise<string> {
    const id = randomUUID();
    await this.db
      .insertInto('users')
      .values({
        id,
        email_index: bytes(),
        email: bytes(),
        name: bytes(),
        password_hash: '$argon2id$test',
        password_changed_at: createdAt,
        created_at: createdAt,
        updated_at: createdAt,
      })
      .execute();
    return id;
  }

  async home(createdAt: Date): Promise<string> {
    const id = randomUUID();
    await this.db
      .insertInto('homes')
      .values({ id, name: bytes(), time_zone: bytes(), created_at: createdAt, updated_at: createdAt })
      .execute();
    return id;
  }

  async member(homeId: string, userId: string, role: HomeRole, joinedAt: Date): Promise<void> {
    await this.db
      .insertInto('home_members')
      .values({ home_id: homeId, user_id: userId, role, joined_at: joinedAt })
      .execute();
  }

  async device(
    homeId: string,
    options: {
      model: DeviceModel;
      pairedAt: Date;
      nickname?: boolean;
      room?: boolean;
      ssid?: boolean;
      ip?: boolean;
    },
  ): Promise<string> {
    const id = randomUUID();
    await this.db
      .insertInto('devices')
      .values({
        id,
        home_id: homeId,
        model: options.model,
        firmware: '1.0.0',
        mac_index: bytes(),
        serial_index: bytes(),
        mac: bytes(),
        serial: bytes(),
        ssid: options.ssid ? bytes() : null,
        ip: options.ip ? bytes() : null,
        nickname: options.nickname ? bytes() : null,
        room: options.room ? bytes() : null,
        credential_hash: bytes(),
        credential_issued_at: options.pairedAt,
        paired_at: options.pairedAt,
      })
      .execute();
    return id;
  }

  async share(deviceId: string, userId: string, sharedAt: Date): Promise<void> {
    await this.db
      .insertInto('device_shares')
      .values({ device_id: deviceId, user_id: userId, shared_at: sharedAt })
      .execute();
  }

  async event(deviceId: string, homeId: string, occurredAt: Date): Promise<void> {
    await this.db
      .insertInto('device_events')
      .values({
        id: randomUUID(),
        device_id: deviceId,
        home_id: homeId,
        type: 'motion',
        occurred_at: occurredAt,
        received_at: occurredAt,
        details: bytes(),
      })
      .execute();
  }

  async session(
    userId: string,
    options: { createdAt: Date; expiresAt: Date; endedAt?: Date; ip?: boolean },
  ): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        id: randomUUID(),
        user_id: userId,
        user_epoch: 0,
        global_epoch: 0,
        created_at: options.createdAt,
        last_used_at: options.createdAt,
        expires_at: options.expiresAt,
        ended_at: options.endedAt ?? null,
        end_reason: options.endedAt ? 'logout' : null,
        client: bytes(),
        ip: options.ip ? bytes() : null,
      })
      .execute();
  }

  async profile(
    homeId: string,
    options: { userId: string | null; createdBy: string | null; createdAt: Date },
  ): Promise<string> {
    const id = randomUUID();
    await this.db
      .insertInto('body_profiles')
      .values({
        id,
        home_id: homeId,
        user_id: options.userId,
        created_by: options.createdBy,
        profile: bytes(),
        created_at: options.createdAt,
        updated_at: options.createdAt,
      })
      .execute();
    return id;
  }

  async reading(profileId: string, homeId: string, measuredAt: Date): Promise<void> {
    await this.db
      .insertInto('scale_readings')
      .values({
        id: randomUUID(),
        profile_id: profileId,
        home_id: homeId,
        measured_at: measuredAt,
        reading: bytes(),
        created_at: measuredAt,
      })
      .execute();
  }

  async grant(userId: string, options: { createdAt: Date; revokedAt?: Date }): Promise<void> {
    await this.db
      .insertInto('integration_grants')
      .values({
        id: randomUUID(),
        user_id: userId,
        provider: 'alexa',
        token_hash: bytes(),
        created_at: options.createdAt,
        revoked_at: options.revokedAt ?? null,
      })
      .execute();
  }

  async incident(window: { from: Date; to: Date }, categories: DataCategory[]): Promise<string> {
    const id = randomUUID();
    await this.db
      .insertInto('incidents')
      .values({
        id,
        title: 'Analytics copy exposed',
        description: 'A test incident.',
        detected_at: window.to,
        window_from: window.from,
        window_to: window.to,
        stores: JSON.stringify(['analytics copy']),
        categories: JSON.stringify(categories),
        scope: JSON.stringify({ kind: 'everyone' }),
        status: 'declared',
        declared_by: 'operator:test',
      })
      .execute();
    return id;
  }
}

/**
 * A synthetic customer base for timing the resolver, written with set-based SQL: `customers` users, one home
 * per two of them (owner and member), a guest with a shared device in one home of ten, three devices per
 * home (camera with nickname and ssid, plug with an ip, scale), `eventsPerDevice` events per camera, a live
 * session per user, a body profile per home with `readingsPerProfile` readings, a grant per four users.
 * Every timestamp falls in 2024, before a 2025 window.
 */
export async function generatePopulation(
  db: Db,
  customers: number,
  options: { eventsPerDevice?: number; readingsPerProfile?: number } = {},
): Promise<void> {
  const events = options.eventsPerDevice ?? 4;
  const readings = options.readingsPerProfile ?? 4;
  const homes = Math.ceil(customers / 2);
  const at = sql`timestamptz '2024-01-01' + (n % 300) * interval '1 day'`;
  // One connection throughout: the numbering tables are temporary.
  await db.connection().execute(async (c) => {
    await sql`insert into users (id, email_index, email, name, password_hash, password_changed_at, created_at, updated_at)
      select gen_random_uuid(), uuid_send(gen_random_uuid()), '\\x00'::bytea, '\\x00'::bytea, 'x', ${at}, ${at}, ${at}
      from generate_series(1, ${customers}::int) n`.execute(c);
    await sql`create temporary table gen_users as
      select id, row_number() over (order by created_at, id) as n from users`.execute(c);
    await sql`insert into homes (id, name, time_zone, created_at, updated_at)
      select gen_random_uuid(), '\\x00'::bytea, '\\x00'::bytea, ${at}, ${at} from generate_series(1, ${homes}::int) n`.execute(
      c,
    );
    await sql`create temporary table gen_homes as
      select id, row_number() over (order by id) as n from homes`.execute(c);
    await sql`insert into home_members (home_id, user_id, role, joined_at)
      select h.id, u.id, case when u.n % 2 = 1 then 'owner' else 'member' end, timestamptz '2024-01-01'
      from gen_users u join gen_homes h on h.n = (u.n + 1) / 2`.execute(c);
    await sql`insert into devices (id, home_id, model, firmware, mac_index, serial_index, mac, serial, ssid, ip,
        nickname, room, credential_hash, credential_issued_at, paired_at)
      select gen_random_uuid(), h.id, m.model, '1.0.0', uuid_send(gen_random_uuid()), uuid_send(gen_random_uuid()),
        '\\x00'::bytea, '\\x00'::bytea,
        case when m.model = 'camera' then '\\x00'::bytea end, case when m.model = 'plug' then '\\x00'::bytea end,
        case when m.model = 'camera' then '\\x00'::bytea end, null, '\\x00'::bytea,
        timestamptz '2024-02-01', timestamptz '2024-02-01'
      from gen_homes h cross join (values ('camera'), ('plug'), ('scale')) m(model)`.execute(c);
    // Guests: a user of the next home, on the plug of every tenth home.
    await sql`insert into device_shares (device_id, user_id, shared_at)
      select d.id, u.id, timestamptz '2024-03-01'
      from gen_homes h join devices d on d.home_id = h.id and d.model = 'plug'
      join gen_users u on u.n = (h.n * 2 + 1) where h.n % 10 = 0`.execute(c);
    await sql`insert into device_events (id, device_id, home_id, type, occurred_at, received_at)
      select gen_random_uuid(), d.id, d.home_id, 'motion', ts, ts
      from devices d cross join lateral (
        select timestamptz '2024-06-01' + k * interval '1 hour' as ts from generate_series(1, ${events}::int) k) e
      where d.model = 'camera'`.execute(c);
    await sql`insert into sessions (id, user_id, user_epoch, global_epoch, created_at, last_used_at, expires_at, ip)
      select gen_random_uuid(), u.id, 0, 0, timestamptz '2024-12-20', timestamptz '2024-12-20',
        timestamptz '2025-02-20', case when u.n % 3 = 0 then '\\x00'::bytea end
      from gen_users u`.execute(c);
    await sql`insert into body_profiles (id, home_id, user_id, created_by, profile, created_at, updated_at)
      select gen_random_uuid(), h.id, case when h.n % 2 = 0 then u.id end, u.id, '\\x00'::bytea,
        timestamptz '2024-04-01', timestamptz '2024-04-01'
      from gen_homes h join gen_users u on u.n = h.n * 2 - 1`.execute(c);
    await sql`insert into scale_readings (id, profile_id, home_id, measured_at, reading, created_at)
      select gen_random_uuid(), p.id, p.home_id, ts, '\\x00'::bytea, ts
      from body_profiles p cross join lateral (
        select timestamptz '2024-06-01' + k * interval '1 day' as ts from generate_series(1, ${readings}::int) k) r`.execute(
      c,
    );
    await sql`insert into integration_grants (id, user_id, provider, token_hash, created_at)
      select gen_random_uuid(), u.id, 'google', uuid_send(gen_random_uuid()), timestamptz '2024-05-01'
      from gen_users u where u.n % 4 = 0`.execute(c);
    await sql`drop table gen_users, gen_homes`.execute(c);
    await sql`analyze`.execute(c);
  });
}
