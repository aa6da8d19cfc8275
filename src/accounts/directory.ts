import type { UserStore } from './user-store.js';

/** Whose key seals a person's data and how the audit chain names them. */
export const userSubject = (userId: string) => `user:${userId}`;

/**
 * What other domains may ask of accounts about people: look-ups by id or address, never a write. The user
 * store provides it; a domain names the methods it uses with `Pick`.
 */
export type UserDirectory = Pick<
  UserStore,
  'getById' | 'getManyById' | 'findIdByEmail' | 'emailIndex' | 'idsOf'
>;
