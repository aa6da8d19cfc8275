import { useState } from 'react';
import { api } from '../api';
import { focusHeading } from '../focus';
import { Outcome, problemText, text, useSubmit } from '../form';
import { useLoaded } from '../load';
import { PasswordReentry } from './password-reentry';

interface Session {
  id: string;
  current: boolean;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  userAgent: string | null;
  ip: string | null;
}

interface SessionPage {
  items: Session[];
  next: string | null;
}

// First match wins: Edge and Opera also say Chrome, and Chrome also says Safari.
const BROWSERS: [RegExp, string][] = [
  [/Edg\//, 'Edge'],
  [/OPR\//, 'Opera'],
  [/Firefox\//, 'Firefox'],
  [/Chrom(e|ium)\//, 'Chrome'],
  [/Safari\//, 'Safari'],
];
const SYSTEMS: [RegExp, string][] = [
  [/Android/, 'Android'],
  [/iPhone|iPad/, 'iOS'],
  [/Windows/, 'Windows'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/CrOS/, 'ChromeOS'],
  [/Linux/, 'Linux'],
];

/** "Firefox on Windows" from a browser's agent string; other clients (the CLI, an app) by their own name. */
export function describeAgent(userAgent: string | null): string {
  if (!userAgent) return 'Unknown device';
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser) return system ? `${browser} on ${system}` : browser;
  return userAgent.split(/[\s/]/, 1)[0] || 'Unknown device';
}

const PAGE = 50;

const when = (instant: string) => new Date(instant).toLocaleString();

/**
 * Where the account is signed in: newest first, this session marked. Any other may be ended; ending all
 * the others needs the password again, as the API requires.
 */
export function SessionsPage() {
  // The newest first; older pages are added below by "Show older sessions".
  const shown = useLoaded(() => api<SessionPage>('GET', `/v1/sessions?limit=${PAGE}`));
  const { error, setError, reload: load } = shown;
  const sessions = shown.value?.items ?? null;
  const next = shown.value?.next ?? null;
  const [message, setMessage] = useState<string | null>(null);
  const showOlder = async (before: string) => {
    try {
      const older = await api<SessionPage>(
        'GET',
        `/v1/sessions?limit=${PAGE}&before=${encodeURIComponent(before)}`,
      );
      shown.setValue((page) => ({ items: [...(page?.items ?? []), ...older.items], next: older.next }));
    } catch (caught) {
      setError(problemText(caught));
    }
  };

  const end = async (session: Session) => {
    setError(null);
    setMessage(null);
    try {
      await api('DELETE', `/v1/sessions/${session.id}`);
      setMessage(`Ended the session of ${describeAgent(session.userAgent)}.`);
      await load();
      // Its End button is gone with it; the page's heading is where to carry on from.
      focusHeading('main h1');
    } catch (caught) {
      setError(problemText(caught));
    }
  };
  const endOthers = useSubmit(
    async (form) => {
      await api('POST', '/v1/sessions/end-others', { password: text(form, 'password') });
      await load();
      return 'Every other session has been ended; they must sign in again.';
    },
    { resetOnSuccess: true },
  );
  const others = sessions?.filter((session) => !session.current).length ?? 0;

  return (
    <>
      <p>Everywhere your account is signed in. End any you do not recognise, then change your password.</p>
      <Outcome error={error} message={message} />
      {sessions === null && !error && <p>Loading…</p>}
      {sessions && (
        <ul className="people" aria-label="Sessions">
          {sessions.map((session) => {
            const agent = describeAgent(session.userAgent);
            return (
              <li
                key={session.id}
                className="card person"
                aria-label={session.current ? 'This session' : agent}
              >
                <div>
                  <h2 className="person-name">
                    {agent}
                    {session.current && (
                      <>
                        {' '}
                        <span className="pill current">This session</span>
                      </>
                    )}
                  </h2>
                  <p className="meta">
                    Signed in {when(session.createdAt)} · last used {when(session.lastUsedAt)}
                    {session.ip ? ` · from ${session.ip}` : ''}
                  </p>
                </div>
                {session.current ? (
                  <p className="meta">To end this one, sign out.</p>
                ) : (
                  <div className="actions">
                    <button
                      type="button"
                      className="secondary"
                      onClick={() => void end(session)}
                      aria-label={`End the session of ${agent}, signed in ${when(session.createdAt)}`}
                    >
                      End
                    </button>
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {next && (
        <button type="button" className="secondary" onClick={() => void showOlder(next)}>
          Show older sessions
        </button>
      )}
      {sessions && (
        <section aria-labelledby="end-others" className="card account-section">
          <h2 id="end-others">End all other sessions</h2>
          {others === 0 && !next ? (
            <p className="meta">You are signed in here only.</p>
          ) : (
            <form onSubmit={endOthers.onSubmit}>
              <p>Signs out every browser and app but this one. Enter your password to confirm.</p>
              <PasswordReentry id="end-others-password" />
              <button type="submit" className="danger" disabled={endOthers.busy}>
                End all other sessions
              </button>
            </form>
          )}
          <Outcome error={endOthers.error} message={endOthers.message} />
        </section>
      )}
    </>
  );
}
