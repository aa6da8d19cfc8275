/**
 * Text PostgreSQL cannot keep as given, which no field of ours has a use for: a NUL character (U+0000), which
 * text and jsonb refuse, and an unpaired UTF-16 surrogate (JSON's `"\ud800"`), which jsonb refuses and which
 * becomes U+FFFD on its way into text or a sealed value, so what is read back is not what was given. The HTTP
 * API and the control socket refuse both in what they were given, before validation. (The CLI's own flags
 * cannot carry either: the operating system ends every argument at a NUL, and Node decodes them as UTF-8.)
 */
export interface UnstorableField {
  /** JSON Pointer to the string holding it, or to the object whose member name holds it. */
  pointer: string;
  detail: string;
  /** Which of the two: refusals name the NUL when that is all there is. */
  nul: boolean;
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function unstorable(text: string): { what: string; nul: boolean } | undefined {
  if (text.includes('\u0000')) return { what: 'a NUL character', nul: true };
  if (UNPAIRED_SURROGATE.test(text)) return { what: 'an unpaired surrogate (not Unicode text)', nul: false };
  return undefined;
}

/** Where `value` holds unstorable text, in strings or member names; walked with a stack, since input may nest deeply. */
export function findUnstorableText(value: unknown): UnstorableField[] {
  const found: UnstorableField[] = [];
  const pending: Array<{ value: unknown; pointer: string }> = [{ value, pointer: '' }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (typeof item.value === 'string') {
      const bad = unstorable(item.value);
      if (bad) found.push({ pointer: item.pointer || '/', detail: `contains ${bad.what}`, nul: bad.nul });
    } else if (typeof item.value === 'object' && item.value !== null) {
      const members = Object.entries(item.value);
      // Pushed in reverse, so fields are reported in the order they were given.
      for (const [key, member] of members.reverse()) {
        const bad = unstorable(key);
        if (bad) {
          found.push({
            pointer: item.pointer || '/',
            detail: `has a member name with ${bad.what}`,
            nul: bad.nul,
          });
        } else {
          pending.push({ value: member, pointer: `${item.pointer}/${escapePointer(key)}` });
        }
      }
    }
  }
  return found;
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
