import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { SealedFieldError } from '../src/crypto/errors.js';
import { type FieldRef } from '../src/crypto/sealer.js';
import { type Figure, figureTable, interleaved, log, memoryServices, roundsTable } from './measure.js';

const INPUTS = 1024;
const SUBJECTS = 64;

/**
 * Sealer.sealString + openString of 40-byte strings (a real KeyVault on an in-memory PGlite, DEK cache
 * warm) against bare node:crypto AES-256-GCM encrypt + decrypt of the same strings with the same keys and a
 * fresh 96-bit IV from randomBytes each time. Both sides take a JS string and give one back.
 */
export async function benchSealer(): Promise<Figure[]> {
  const services = await memoryServices();
  try {
    const { vault, sealer } = services;

    const subjects = Array.from({ length: SUBJECTS }, (_, i) => `user:${String(i).padStart(9, '0')}`);
    const keys: Buffer[] = [];
    for (const subject of subjects) keys.push((await vault.currentKey(subject)).key);
    // 40 ASCII characters, so 40 bytes of UTF-8.
    const inputs = Array.from({ length: INPUTS }, () => randomBytes(30).toString('base64'));
    const fields: FieldRef[] = inputs.map((_, i) => ({ table: 'users', column: 'name', rowId: String(i) }));
    if (inputs.some((input) => Buffer.byteLength(input) !== 40)) throw new Error('inputs must be 40 bytes');

    // Correctness before speed: every input opens to itself, and a value moved to another row does not.
    for (let i = 0; i < INPUTS; i++) {
      const subject = subjects[i % SUBJECTS] as string;
      const sealed = await sealer.sealString(subject, fields[i] as FieldRef, inputs[i] as string);
      if ((await sealer.openString(subject, fields[i] as FieldRef, sealed)) !== inputs[i]) {
        throw new Error('Sealer did not round-trip');
      }
      if (i < 8) {
        const moved = sealer.openString(subject, fields[i + 1] as FieldRef, sealed);
        if (
          !(await moved.then(
            () => false,
            (error) => error instanceof SealedFieldError,
          ))
        ) {
          throw new Error('A sealed value opened in another row');
        }
      }
    }

    const sealerStep = async (i: number) => {
      const n = i % INPUTS;
      const subject = subjects[i % SUBJECTS] as string;
      const field = fields[n] as FieldRef;
      const sealed = await sealer.sealString(subject, field, inputs[n] as string);
      const opened = await sealer.openString(subject, field, sealed);
      if (opened.length !== 40) throw new Error('Sealer round trip failed');
    };
    const rawStep = (iv: () => Buffer) => (i: number) => {
      const n = i % INPUTS;
      const key = keys[i % SUBJECTS] as Buffer;
      const nonce = iv();
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const body = Buffer.concat([cipher.update(Buffer.from(inputs[n] as string, 'utf8')), cipher.final()]);
      const tag = cipher.getAuthTag();
      const decipher = createDecipheriv('aes-256-gcm', key, nonce);
      decipher.setAuthTag(tag);
      const opened = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      if (opened.length !== 40) throw new Error('raw round trip failed');
    };
    // For reference only: IVs handed out from a buffer the CSPRNG fills 256 at a time, as aead.ts does.
    const pool = Buffer.allocUnsafeSlow(12 * 256);
    let offset = pool.length;
    const pooledIv = () => {
      if (offset === pool.length) {
        randomFillSync(pool);
        offset = 0;
      }
      offset += 12;
      return pool.subarray(offset - 12, offset);
    };

    const results = await interleaved(
      [
        { name: 'Sealer', step: sealerStep },
        { name: 'raw AES-256-GCM', step: rawStep(() => randomBytes(12)) },
        { name: 'raw, pooled IVs', step: rawStep(pooledIv) },
      ],
      { rounds: 5, roundMs: 1_000 },
    );
    log(roundsTable('seal+open pairs/s', results));
    const [sealed, raw, pooled] = results.map((result) => result.median) as [number, number, number];
    const figures: Figure[] = [
      {
        name: 'Sealer seal+open, 40 B',
        value: sealed,
        unit: 'pairs/s',
        baselineName: 'raw GCM',
        baseline: raw,
        target: { of: 'ratio', min: 0.75 },
      },
      {
        name: '  (info) Sealer vs raw, pooled IVs',
        value: sealed,
        unit: 'pairs/s',
        baselineName: 'pooled',
        baseline: pooled,
      },
    ];
    log(figureTable(figures));
    return figures;
  } finally {
    await services.close();
  }
}
