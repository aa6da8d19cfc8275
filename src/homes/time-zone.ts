/** Lower-case spelling → canonical IANA name, for the zones this runtime's ICU knows. */
const KNOWN_ZONES = new Map(
  [...Intl.supportedValuesOf('timeZone'), 'UTC'].map((zone) => [zone.toLowerCase(), zone] as const),
);
/** Area/Location names (aliases such as Asia/Calcutta included); rules out offsets and abbreviations. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)+$/;

/**
 * The canonical spelling of an IANA time zone, or undefined when it is not one. Abbreviations (EST) and
 * offsets (+01:00) are refused: they do not follow daylight saving time, which a home's schedules need.
 */
export function canonicalTimeZone(value: string): string | undefined {
  const trimmed = value.trim();
  const known = KNOWN_ZONES.get(trimmed.toLowerCase());
  if (known) return known;
  if (!ZONE_NAME.test(trimmed)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: trimmed }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}
