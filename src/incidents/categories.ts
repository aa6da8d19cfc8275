/**
 * The fixed catalogue of personal-data categories an incident can expose. Each has a stable bit in the
 * affected-set snapshot (never reorder or reuse a bit: stored snapshots depend on it), the words a notice
 * uses for it, and how Hearth stores it, which the regulator report states.
 */
export const DATA_CATEGORY_IDS = [
  'name',
  'email',
  'phone',
  'device-nicknames',
  'device-details',
  'wifi-ssids',
  'ip-addresses',
  'body-metrics',
  'event-history',
  'password-hashes',
  'session-tokens',
  'integration-tokens',
  'device-credentials',
] as const;
export type DataCategory = (typeof DATA_CATEGORY_IDS)[number];

/**
 * How a category is kept at rest. `sealed`: encrypted by the application under the customer's or home's
 * key, unintelligible without Hearth's keys. `hashed`: only a one-way hash is stored (SHA-256 of a 256-bit
 * secret, or argon2id of a password). `partly-sealed`: some fields in clear (named in `inClear`).
 * `not-stored`: Hearth never collects it.
 */
export type Storage = 'sealed' | 'hashed' | 'partly-sealed' | 'not-stored';

export interface CategoryInfo {
  id: DataCategory;
  bit: number;
  /** For the notice: what of *yours* this is, in plain words. */
  plain: string;
  /** For the regulator report. */
  storage: Storage;
  /** What is stored in clear, for partly-sealed categories. */
  inClear?: string;
  /** For the regulator report: what someone holding this could do. */
  consequences: string;
}

export const CATEGORIES: Record<DataCategory, CategoryInfo> = {
  name: {
    id: 'name',
    bit: 0,
    plain: 'Your name',
    storage: 'sealed',
    consequences: 'Identification of the customer; more convincing phishing.',
  },
  email: {
    id: 'email',
    bit: 1,
    plain: 'Your e-mail address',
    storage: 'sealed',
    consequences: 'Phishing and spam aimed at the customer.',
  },
  phone: {
    id: 'phone',
    bit: 2,
    plain: 'Your phone number',
    storage: 'not-stored',
    consequences: 'None: Hearth does not collect phone numbers.',
  },
  'device-nicknames': {
    id: 'device-nicknames',
    bit: 3,
    plain: 'The names you gave your devices and the rooms they are in',
    storage: 'sealed',
    consequences: 'Hints about the layout and occupants of a home (e.g. "Baby room camera").',
  },
  'device-details': {
    id: 'device-details',
    bit: 4,
    plain: 'Details of your devices (model, firmware version, hardware address and serial number)',
    storage: 'partly-sealed',
    inClear: 'model and firmware version',
    consequences: 'Knowing which devices a home has and which firmware they run.',
  },
  'wifi-ssids': {
    id: 'wifi-ssids',
    bit: 5,
    plain: 'The name of the Wi-Fi network your devices use',
    storage: 'sealed',
    consequences: 'Locating a home by its Wi-Fi network name.',
  },
  'ip-addresses': {
    id: 'ip-addresses',
    bit: 6,
    plain: 'Internet (IP) addresses you and your devices used',
    storage: 'sealed',
    consequences: 'Approximate location; targeting of the home network.',
  },
  'body-metrics': {
    id: 'body-metrics',
    bit: 7,
    plain: 'Body measurements from your smart scale (such as height, weight, sex and body composition)',
    storage: 'sealed',
    consequences: 'Disclosure of health data (a special category under GDPR Art. 9).',
  },
  'event-history': {
    id: 'event-history',
    bit: 8,
    plain: 'The history of events from your devices (such as motion and doors opening)',
    storage: 'partly-sealed',
    inClear: 'event type and time',
    consequences: 'Learning when a home is occupied or empty.',
  },
  'password-hashes': {
    id: 'password-hashes',
    bit: 9,
    plain: 'A scrambled (hashed) form of your password, not the password itself',
    storage: 'hashed',
    consequences: 'Offline guessing of weak passwords (argon2id makes each guess slow).',
  },
  'session-tokens': {
    id: 'session-tokens',
    bit: 10,
    plain: 'Sign-in sessions of your account',
    storage: 'hashed',
    consequences: 'None directly: only SHA-256 hashes of 256-bit tokens are stored.',
  },
  'integration-tokens': {
    id: 'integration-tokens',
    bit: 11,
    plain: 'Links between your account and Alexa, Google Home or IFTTT',
    storage: 'hashed',
    consequences: 'None directly: only hashes of the link tokens are stored.',
  },
  'device-credentials': {
    id: 'device-credentials',
    bit: 12,
    plain: 'The credentials your devices use to connect to Hearth',
    storage: 'hashed',
    consequences: 'None directly: only SHA-256 hashes of 256-bit device passwords are stored.',
  },
};

export function maskOf(categories: readonly DataCategory[]): number {
  let mask = 0;
  for (const category of categories) mask |= 1 << CATEGORIES[category].bit;
  return mask;
}

export function categoriesOf(mask: number): DataCategory[] {
  return DATA_CATEGORY_IDS.filter((id) => (mask & (1 << CATEGORIES[id].bit)) !== 0);
}

export function isDataCategory(value: string): value is DataCategory {
  return (DATA_CATEGORY_IDS as readonly string[]).includes(value);
}
