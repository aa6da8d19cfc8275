import type { BlindIndex } from '../../crypto/blind-index.js';

/** The `agentUserId` Google knows a linked person by. */
export type AgentUserIdOf = (userId: string) => string;

/**
 * A keyed HMAC of the user id (the blind-index root, so a KEK rotation leaves it unchanged): stable for
 * the person across links, as Google requires, yet neither their user id nor their e-mail, and not
 * computable by anyone without our keys. The grant side calls the same function to tell HomeGraph.
 */
export function agentUserIds(blindIndex: Pick<BlindIndex, 'compute'>): AgentUserIdOf {
  return (userId) => blindIndex.compute('google', 'agent_user_id', userId).toString('base64url');
}
