import type { AccountDeletion } from '../accounts/deletion.js';
import type { KeyVault } from '../crypto/vault.js';
import type { HomeService } from '../homes/service.js';

export interface ErasurePorts {
  accountDeletion: Pick<AccountDeletion, 'eraseAfterRestore'>;
  homes: Pick<HomeService, 'eraseAfterRestore'>;
  vault: Pick<KeyVault, 'destroy'>;
}

/** The actor restore's erasures are audited under. */
export const RESTORE_ACTOR = 'system:backup-restore';

/**
 * Erases again what a restore brought back: accounts and homes as their deletion does (rows, then key),
 * any other subject (a mail message's key) by destroying its keys. Returns how many of each.
 */
export async function eraseAgain(
  ports: ErasurePorts,
  subjects: readonly string[],
): Promise<{ users: number; homes: number; keys: number }> {
  const counts = { users: 0, homes: 0, keys: 0 };
  for (const subject of subjects) {
    const [kind, id] = subject.split(':', 2) as [string, string];
    if (kind === 'user') {
      await ports.accountDeletion.eraseAfterRestore(id, RESTORE_ACTOR);
      counts.users += 1;
    } else if (kind === 'home') {
      await ports.homes.eraseAfterRestore(id, RESTORE_ACTOR);
      counts.homes += 1;
    } else {
      await ports.vault.destroy(subject);
      counts.keys += 1;
    }
  }
  return counts;
}
