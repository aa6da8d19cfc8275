import { useEffect, useRef, useState } from 'react';
import { api } from '../api';
import { problemText } from '../form';
import { Link, returnAfterSignIn, takeFragmentToken } from '../router';
import type { Home } from './homes';

/**
 * The invitation's token, from the mailed link's fragment. Kept in this module's memory only (never in
 * storage or the address bar), so it survives signing in first within the tab, and is gone once used.
 */
let pendingToken: string | null = null;

/** Accepts a home invitation for the signed-in account (`/invitations/accept#token=…`). */
export function AcceptInvitationPage({ signedIn }: { signedIn: boolean }) {
  const [token] = useState(() => {
    pendingToken = takeFragmentToken() ?? pendingToken;
    return pendingToken;
  });
  const [state, setState] = useState<{ ok: boolean; text: string; home?: Home }>({
    ok: true,
    text: 'Accepting the invitation…',
  });
  // The token works once: post it once, whatever the parent re-renders.
  const sent = useRef(false);
  useEffect(() => {
    if (!token) {
      setState({
        ok: false,
        text: 'This page needs the link from your invitation e-mail. Open the link again, or ask for a new one.',
      });
      return;
    }
    if (!signedIn) {
      returnAfterSignIn('/invitations/accept');
      return;
    }
    if (sent.current) return;
    sent.current = true;
    api<Home>('POST', '/v1/invitations/accept', { token }).then(
      (home) => {
        pendingToken = null;
        setState({ ok: true, text: `You have joined ${home.name} as ${roleName(home.role)}.`, home });
      },
      (error: unknown) => {
        pendingToken = null;
        setState({ ok: false, text: problemText(error) });
      },
    );
  }, [token, signedIn]);

  return (
    <main className="narrow">
      <h1>Join a home</h1>
      {token && !signedIn ? (
        <>
          <p>
            Sign in with the account of the address the invitation was sent to; you come back here to join.
          </p>
          <p>
            <Link to="/sign-in">Sign in</Link>
          </p>
          <p>
            No account yet? <Link to="/sign-up">Create one</Link> with that address, confirm it, then open the
            link from the invitation again.
          </p>
        </>
      ) : (
        <p role="status" className={state.ok ? undefined : 'error'}>
          {state.text}
        </p>
      )}
      <p>
        {state.home ? (
          <Link to={`/homes/${state.home.id}`}>Open {state.home.name}</Link>
        ) : (
          signedIn && <Link to="/">Go to your homes</Link>
        )}
      </p>
    </main>
  );
}

export const roleName = (role: Home['role']) =>
  role === 'admin' ? 'an admin' : role === 'owner' ? 'an owner' : `a ${role}`;
