import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

describe('the settings hearth doctor reads', () => {
  it('default to no trusted proxy and a KEK age limit of 365 days', () => {
    expect(loadConfig({})).toMatchObject({ trustedProxy: null, kekMaxAgeDays: 365 });
  });

  it('take HEARTH_TRUSTED_PROXY and HEARTH_KEK_MAX_AGE_DAYS', () => {
    const config = loadConfig({
      HEARTH_TRUSTED_PROXY: '10.0.0.1,10.0.1.0/24',
      HEARTH_KEK_MAX_AGE_DAYS: '90',
    });
    expect(config).toMatchObject({ trustedProxy: '10.0.0.1,10.0.1.0/24', kekMaxAgeDays: 90 });
  });

  it('refuse a KEK age limit that is not a positive whole number, naming the variable', () => {
    expect(() => loadConfig({ HEARTH_KEK_MAX_AGE_DAYS: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ HEARTH_KEK_MAX_AGE_DAYS: 'a year' })).toThrow(
      /^Invalid configuration: HEARTH_KEK_MAX_AGE_DAYS must be a positive whole number of days \(got "a year"\)$/,
    );
  });
});
