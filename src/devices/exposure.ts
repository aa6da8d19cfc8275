import { type RawBuilder, sql } from 'kysely';

/** The data categories (src/incidents/categories.ts) whose rows live in this domain's tables. */
type DeviceCategory =
  | 'device-details'
  | 'device-nicknames'
  | 'wifi-ssids'
  | 'ip-addresses'
  | 'event-history'
  | 'device-credentials';

/** The resolver's question as far as devices reads it (the exposure port in src/incidents/exposure.ts). */
interface Question {
  to: Date;
  listed: (category: DeviceCategory) => boolean;
  bit: (category: DeviceCategory) => number;
}

const CATEGORIES: DeviceCategory[] = [
  'device-details',
  'device-nicknames',
  'wifi-ssids',
  'ip-addresses',
  'event-history',
  'device-credentials',
];
/** Counted per device that carries them; events are counted themselves, ip-addresses with the sessions'. */
const PER_DEVICE: DeviceCategory[] = [
  'device-details',
  'device-nicknames',
  'wifi-ssids',
  'device-credentials',
];

/**
 * What devices answers incident response, as SQL over devices, device shares and device events. A person
 * sees a device when they are an owner, admin or member of its home (joined by the window's end, the device
 * paired by then), or when it was shared with them (by then); `members` is the homes domain's
 * `membersSeeingDevices()`, so the membership table stays the homes domain's.
 */
export function deviceExposure(members: RawBuilder<unknown>) {
  return {
    domain: 'devices',

    /** `user_id` of whoever could see a device of this model paired by `to` (the device-owners scope). */
    ownersOf(model: string, to: Date): RawBuilder<unknown> {
      return sql`select hm.user_id from (${members}) hm join devices d on d.home_id = hm.home_id
        where d.model = ${model} and d.paired_at <= ${to}`;
    },

    /**
     * device-details: a visible device. device-nicknames: one with a nickname or room. wifi-ssids: one with
     * an ssid. ip-addresses: one with an ip. event-history: one with an event up to `to`. device-credentials:
     * one seen through membership (guests never hold a device's credentials). Records: distinct devices per
     * category; for event-history, the events themselves (exact: the per-device index answers it).
     */
    answer(question: Question) {
      const { to, listed, bit } = question;
      if (!CATEGORIES.some(listed)) return {};
      const carried = sql`${bit('device-details')}::int
      | case when d.nickname is not null or d.room is not null then ${bit('device-nicknames')}::int else 0 end
      | case when d.ssid is not null then ${bit('wifi-ssids')}::int else 0 end
      | case when d.ip is not null then ${bit('ip-addresses')}::int else 0 end`;
      const ctes: RawBuilder<unknown>[] = [
        sql`visible as (
      select hm.user_id, d.id as device_id, ${carried} | ${bit('device-credentials')}::int as bits
      from pop p join (${members}) hm on hm.user_id = p.user_id join devices d on d.home_id = hm.home_id
      where hm.joined_at <= ${to} and d.paired_at <= ${to}
      union all
      select ds.user_id, d.id as device_id, ${carried} as bits
      from pop p join device_shares ds on ds.user_id = p.user_id join devices d on d.id = ds.device_id
      where ds.shared_at <= ${to} and d.paired_at <= ${to})`,
        sql`device_bits as (select device_id, bit_or(bits) as bits from visible group by device_id)`,
      ];
      const rows: RawBuilder<unknown>[] = [sql`select user_id, bits from visible`];
      const carrying = (category: DeviceCategory) =>
        sql`(select count(*) from device_bits where bits & ${bit(category)}::int <> 0)`;
      const records: Array<[DeviceCategory, RawBuilder<unknown>]> = PER_DEVICE.filter(listed).map(
        (category) => [category, carrying(category)],
      );
      if (listed('event-history')) {
        // Probed once per visible device on the (device_id, occurred_at) index, or hashed, as the planner sees fit.
        ctes.push(sql`event_devices as (
        select b.device_id from device_bits b
        where exists (select 1 from device_events e where e.device_id = b.device_id and e.occurred_at <= ${to}))`);
        rows.push(sql`select v.user_id, ${bit('event-history')}::int as bits
        from visible v join event_devices ed on ed.device_id = v.device_id`);
        records.push([
          'event-history',
          sql`(select count(*) from event_devices ed join device_events e on e.device_id = ed.device_id
          where e.occurred_at <= ${to})`,
        ]);
      }
      if (listed('ip-addresses')) records.push(['ip-addresses', carrying('ip-addresses')]);
      return { ctes, rows, records };
    },
  };
}
