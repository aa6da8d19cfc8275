import { DomainError } from '../domain-error.js';
import type { HomeRole } from './access.js';

export const homeNotFound = () =>
  new DomainError('not_found', 'There is no such home, or you are not a member of it.', {
    code: 'home-not-found',
  });

export const roleRequired = (least: HomeRole) =>
  new DomainError('forbidden', `This needs the ${least} role in this home.`, { code: 'home-role-required' });
