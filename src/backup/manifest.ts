import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Keyring } from '../crypto/keyring.js';

export const BACKUP_FORMAT = 'hearth-backup-v1';
export const MANIFEST_FILE = 'manifest.json';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 in hex');

export const manifestSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  /** When the snapshot was taken, by the database's clock. */
  createdAt: z.iso.datetime({ offset: true }),
  /** The last migration the backed-up database had applied; a restore migrates to it first. */
  schemaLevel: z.string().min(1).max(200),
  kek: z.strictObject({
    /** The KEK version this manifest's MAC key is derived from. */
    macVersion: z.number().int().min(1),
    /** Every KEK version a data key in the backup is wrapped by: all are needed to open it. */
    wrapVersions: z.array(z.number().int().min(1)),
  }),
  /** In restore order: a table after the tables it references. */
  tables: z.array(
    z.strictObject({
      name: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a table name'),
      file: z.string().regex(/^[a-z_][a-z0-9_]{0,62}\.ndjson\.gz$/, 'must be a table file name'),
      rows: z.number().int().min(0),
      sha256: sha256Hex,
    }),
  ),
  mac: z.string().regex(/^[0-9a-f]{64}$/, 'must be an HMAC-SHA256 in hex'),
});
export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestTable = Manifest['tables'][number];

/** HMAC-SHA256 over the manifest without its MAC, keyed by HKDF from the KEK (never the KEK itself). */
function computeMac(kek: Buffer, manifest: Omit<Manifest, 'mac'>): Buffer {
  const key = Buffer.from(hkdfSync('sha256', kek, BACKUP_FORMAT, 'manifest-mac', 32));
  // Fields in a fixed order, whatever order a parser hands them back in.
  const canonical = [
    manifest.format,
    manifest.createdAt,
    manifest.schemaLevel,
    [manifest.kek.macVersion, manifest.kek.wrapVersions],
    manifest.tables.map((table) => [table.name, table.file, table.rows, table.sha256]),
  ];
  return createHmac('sha256', key).update(JSON.stringify(canonical)).digest();
}

export async function signManifest(keyring: Keyring, unsigned: Omit<Manifest, 'mac'>): Promise<Manifest> {
  const kek = (await keyring.keks([unsigned.kek.macVersion])).get(unsigned.kek.macVersion) as Buffer;
  return { ...unsigned, mac: computeMac(kek, unsigned).toString('hex') };
}

/** Whether the MAC matches; throws a KeyError when the KEK version it names is not available. */
export async function manifestMacMatches(keyring: Keyring, manifest: Manifest): Promise<boolean> {
  const { mac, ...unsigned } = manifest;
  const kek = (await keyring.keks([manifest.kek.macVersion])).get(manifest.kek.macVersion) as Buffer;
  return timingSafeEqual(computeMac(kek, unsigned), Buffer.from(mac, 'hex'));
}
