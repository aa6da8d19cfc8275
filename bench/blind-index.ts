import { createHmac, randomBytes } from 'node:crypto';
import { normalise } from '../src/crypto/blind-index.js';
import { type Figure, figureTable, interleaved, log, memoryServices, roundsTable } from './measure.js';

const INPUTS = 1024;

/**
 * BlindIndex.compute of e-mail addresses with the e-mail normaliser against a bare HMAC-SHA256 of the same
 * strings; a third, informative line adds the normaliser to the bare HMAC to show where the difference goes.
 */
export async function benchBlindIndex(): Promise<Figure[]> {
  const services = await memoryServices();
  try {
    const index = services.blindIndex;
    const key = randomBytes(32);
    const emails = Array.from({ length: INPUTS }, (_, i) => {
      const local = randomBytes(6).toString('hex');
      return i % 4 === 0
        ? `  ${local.toUpperCase()}.Person${i}@Example.COM `
        : `${local}.person${i}@example.com`;
    });
    if (
      !index
        .compute('users', 'email', ' A@B.C', normalise.email)
        .equals(index.compute('users', 'email', 'a@b.c'))
    ) {
      throw new Error('e-mail normalisation does not meet');
    }

    const results = await interleaved(
      [
        {
          name: 'BlindIndex',
          step: (i) => index.compute('users', 'email', emails[i % INPUTS] as string, normalise.email),
        },
        {
          name: 'raw HMAC',
          step: (i) =>
            createHmac('sha256', key)
              .update(emails[i % INPUTS] as string, 'utf8')
              .digest(),
        },
        {
          name: 'raw HMAC + normalise',
          step: (i) =>
            createHmac('sha256', key)
              .update(normalise.email(emails[i % INPUTS] as string), 'utf8')
              .digest(),
        },
      ],
      { rounds: 5, roundMs: 700 },
    );
    log(roundsTable('ops/s', results));
    const [blind, raw, rawNormalised] = results.map((result) => result.median) as [number, number, number];
    const figures: Figure[] = [
      {
        name: 'BlindIndex.compute e-mail',
        value: blind,
        unit: 'ops/s',
        baselineName: 'raw HMAC',
        baseline: raw,
      },
      {
        name: '  (info) raw HMAC + normalise',
        value: rawNormalised,
        unit: 'ops/s',
        baselineName: 'raw HMAC',
        baseline: raw,
      },
    ];
    log(figureTable(figures));
    return figures;
  } finally {
    await services.close();
  }
}
