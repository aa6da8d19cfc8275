/**
 * PostgreSQL cannot store a NUL character (U+0000) in text or jsonb, and no field of ours has a use for one:
 * the HTTP API and the control socket refuse it in what they were given, before validation. (The CLI's own
 * flags cannot carry one: the operating system ends every argument at a NUL.)
 */
export interface NulField {
  /** JSON Pointer to the string holding the NUL, or to the object whose member name holds it. */
  pointer: string;
  detail: string;
}

/** Where `value` holds a NUL, in strings or member names; walked with a stack, since input may nest deeply. */
export function findNul(value: unknown): NulField[] {
  const found: NulField[] = [];
  const pending: Array<{ value: unknown; pointer: string }> = [{ value, pointer: '' }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (typeof item.value === 'string') {
      if (item.value.includes('\u0000')) {
        found.push({ pointer: item.pointer || '/', detail: 'contains a NUL character' });
      }
    } else if (typeof item.value === 'object' && item.value !== null) {
      const members = Object.entries(item.value);
      // Pushed in reverse, so fields are reported in the order they were given.
      for (const [key, member] of members.reverse()) {
        if (key.includes('\u0000')) {
          found.push({ pointer: item.pointer || '/', detail: 'has a member name with a NUL character' });
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
