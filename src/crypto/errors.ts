/** Raised when key material is missing, unsafe or cannot be used; the message says what to do. */
export class KeyError extends Error {
  override name = 'KeyError';
}

/**
 * A programming error: something was about to be sealed, or given a key, under an id spelled other than the
 * database spells it (a UUID not in lower case). Such a value would never open under the row's real id.
 */
export class NonCanonicalIdError extends Error {
  override name = 'NonCanonicalIdError';
}

/** Raised when a sealed value cannot be opened; never carries the value itself. */
export class SealedFieldError extends Error {
  override name = 'SealedFieldError';
  constructor(
    message: string,
    readonly reason: 'format' | 'unauthentic' | 'erased' | 'missing-key',
  ) {
    super(message);
  }
}
