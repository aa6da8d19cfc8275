import type { AccountDependencies } from './dependencies.js';
import { userSubject } from './user-store.js';

/**
 * One domain's share of a person's data. Each domain (homes, devices, integrations…) registers one in the
 * composition root, so the export shows everything we hold and the deletion removes it.
 */
export interface PersonalDataSource {
  /** The key of this part in the export, e.g. `homes`. */
  section: string;
  /** Plain values, opened: this is the person's own copy. */
  export(userId: string): Promise<unknown>;
  /**
   * Removes the rows this domain keeps for the person, before the account row goes. Rows that reference
   * users(id) with ON DELETE CASCADE need nothing here; sealed values die with the user's key anyway.
   */
  erase?(userId: string): Promise<void>;
}

export const EXPORT_FORMAT = 'hearth-export-v1';

export interface PersonalDataExport {
  format: typeof EXPORT_FORMAT;
  exportedAt: Date;
  sections: Record<string, unknown>;
}

/** The registry of sources, and the export and erasure that walk it. */
export class PersonalData {
  readonly #sources: PersonalDataSource[] = [];

  constructor(
    private readonly audit: AccountDependencies['audit'],
    private readonly clock: () => Date = () => new Date(),
  ) {}

  register(source: PersonalDataSource): void {
    if (this.#sources.some((existing) => existing.section === source.section)) {
      throw new Error(`A personal data source named ${source.section} is already registered`);
    }
    this.#sources.push(source);
  }

  async exportFor(userId: string): Promise<PersonalDataExport> {
    const sections: Record<string, unknown> = {};
    for (const source of this.#sources) sections[source.section] = await source.export(userId);
    const subject = userSubject(userId);
    await this.audit.append({
      actor: subject,
      action: 'account.export',
      target: subject,
      details: { sections: Object.keys(sections) },
      detailsSubject: subject,
    });
    return { format: EXPORT_FORMAT, exportedAt: this.clock(), sections };
  }

  /** Newest sources first: a later domain may hold rows that refer to an earlier one's. */
  async eraseFor(userId: string): Promise<void> {
    for (const source of [...this.#sources].reverse()) await source.erase?.(userId);
  }
}

const SESSION_PAGE = 100;

/** What the accounts domain itself holds about a person. */
export function accountDataSources(
  deps: Pick<AccountDependencies, 'users' | 'tokens' | 'sessions'>,
): PersonalDataSource[] {
  return [
    {
      section: 'profile',
      async export(userId) {
        const user = await deps.users.getById(userId);
        if (!user) return null;
        return {
          id: user.id,
          name: user.name,
          email: user.email,
          emailVerifiedAt: user.emailVerifiedAt,
          createdAt: user.createdAt,
          passwordChangedAt: user.passwordChangedAt,
          passwordResetRequired: user.passwordResetRequired,
        };
      },
    },
    {
      section: 'security',
      async export(userId) {
        const user = await deps.users.getById(userId);
        const pending = await deps.tokens.listOutstanding(userId);
        return {
          twoStepVerification: user?.totpEnabled ?? false,
          // A pending change holds an address of the person's too.
          pendingEmailChanges: pending
            .filter((token) => token.purpose === 'change-email')
            .map((token) => ({ newEmail: token.payload, expiresAt: token.expiresAt })),
          outstandingLinks: pending.map((token) => ({ purpose: token.purpose, expiresAt: token.expiresAt })),
        };
      },
    },
    {
      section: 'sessions',
      async export(userId) {
        const all = [];
        let before: Date | undefined;
        for (;;) {
          const page = await deps.sessions.list(userId, {
            limit: SESSION_PAGE,
            ...(before ? { before } : {}),
          });
          all.push(...page);
          if (page.length < SESSION_PAGE) return all;
          before = page.at(-1)?.createdAt;
        }
      },
    },
  ];
}
