import { DomainError } from '../domain-error.js';
import type { HomeRole } from './access.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A malformed id is as unknown as any other; the database would refuse it as a uuid. */
export const isUuid = (id: string) => UUID.test(id);

export const homeNotFound = () =>
  new DomainError('not_found', 'There is no such home, or you are not a member of it.', {
    code: 'home-not-found',
  });

export const roleRequired = (least: HomeRole) =>
  new DomainError('forbidden', `This needs the ${least} role in this home.`, { code: 'home-role-required' });
