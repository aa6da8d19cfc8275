import type { HomeRole } from '../store/types.js';

export type { HomeRole };

/** The key subject a home's sealed values (and its devices', events', body profiles') are sealed under. */
export const homeSubject = (homeId: string) => `home:${homeId}`;

/** Least to most powerful. */
export const HOME_ROLES: readonly HomeRole[] = ['guest', 'member', 'admin', 'owner'];

export function roleAtLeast(role: HomeRole, least: HomeRole): boolean {
  return HOME_ROLES.indexOf(role) >= HOME_ROLES.indexOf(least);
}

/**
 * How other domains (devices, scale, integrations) check a caller's place in a home. The homes service
 * implements it.
 */
export interface HomeAccess {
  /**
   * The caller's role in the home. Throws DomainError `not_found` (code `home-not-found`) when the home does
   * not exist or the caller is not a member: the same answer, so another person's home ids reveal nothing.
   * Throws `forbidden` (code `home-role-required`) when the caller's role is below `least`.
   */
  requireRole(userId: string, homeId: string, least: HomeRole): Promise<HomeRole>;
  /** Another person's role in a home, or undefined when they are not a member (the caller checks its own right first). */
  roleOf(homeId: string, userId: string): Promise<HomeRole | undefined>;
  /** The ids of the homes the user belongs to, with their role. */
  listMemberships(userId: string): Promise<{ homeId: string; role: HomeRole }[]>;
}

/**
 * Called inside home deletion before the home's rows and key go, so devices can revoke their broker
 * credentials and leave third-party links. Registered in the composition root.
 */
export interface HomeDeletionHook {
  homeDeleting(homeId: string): Promise<void>;
}

/**
 * Called after a person left a home or was removed from it, so what they held through their membership
 * (their assistant links to it) ends with it. Registered in the composition root.
 */
export interface HomeMembershipHook {
  memberLeft(homeId: string, userId: string): Promise<void>;
  /** Their role changed, after the commit: a guest now sees only what is shared with them. Best effort. */
  roleChanged(homeId: string, userId: string): Promise<void>;
}
