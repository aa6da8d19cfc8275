import type { Db } from '../store/database.js';
import { AccountService } from './accounts.js';
import { AccountDeletion } from './deletion.js';
import type { AccountDependencies } from './dependencies.js';
import { accountDataSources, PersonalData } from './export.js';
import { LoginService } from './login.js';
import { OneTimeTokenStore } from './one-time-tokens.js';
import { PasswordResetService } from './password-reset.js';

/** The account flows as the composition root hands them out (each one a field of `Services`). */
export interface AccountFlows {
  accounts: AccountService;
  logins: LoginService;
  passwordResets: PasswordResetService;
  accountDeletion: AccountDeletion;
  /** Other domains register their share of a person's data here, for export and deletion. */
  personalData: PersonalData;
}

const DEFAULT_QUIET_FLOOR_MS = 250;

export function buildAccountFlows(
  options: Omit<AccountDependencies, 'tokens' | 'clock' | 'quietFloorMs'> & {
    db: Db;
    sealer: ConstructorParameters<typeof OneTimeTokenStore>[1];
    clock?: () => Date;
    quietFloorMs?: number;
  },
): AccountFlows {
  const clock = options.clock ?? (() => new Date());
  const deps: AccountDependencies = {
    ...options,
    tokens: new OneTimeTokenStore(options.db, options.sealer, clock),
    clock,
    quietFloorMs: options.quietFloorMs ?? DEFAULT_QUIET_FLOOR_MS,
  };
  const accounts = new AccountService(deps);
  const passwordResets = new PasswordResetService(deps);
  const personalData = new PersonalData(deps.audit, clock);
  for (const source of accountDataSources(deps)) personalData.register(source);
  return {
    accounts,
    logins: new LoginService(deps, passwordResets),
    passwordResets,
    accountDeletion: new AccountDeletion(deps, personalData),
    personalData,
  };
}
