/** Raised when key material is missing, unsafe or cannot be used; the message says what to do. */
export class KeyError extends Error {
  override name = 'KeyError';
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
