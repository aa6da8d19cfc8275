/** The first non-empty line of a message, without credentials: what a terminal line or a finding may show. */
export function oneLine(text: string): string {
  const first = text.split('\n').find((line) => line.trim() !== '') ?? text;
  return withoutCredentials(first.trim());
}

/** `postgres://user:secret@host/db` → `postgres://host/db`: a password never reaches a terminal or log. */
export function withoutCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1');
}
