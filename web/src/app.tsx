import { useEffect, useRef, useState } from 'react';
import { api, forgetSession, isSignedIn, refresh, signOut } from './api';
import { usePageHeading } from './focus';
import { Outcome, useSubmit } from './form';
import { ACCOUNT_PATHS, AccountDeletedPage, AccountPage } from './pages/account';
import { ResetPasswordPage, SignInPage, SignUpPage, VerifyEmailPage } from './pages/auth';
import { HomePage } from './pages/home';
import { HomesPage } from './pages/homes';
import { AcceptInvitationPage } from './pages/invitation';
import { MembersPage } from './pages/members';
import { ScalePage } from './pages/scale';
import { TimelinePage } from './pages/timeline';
import { Link, navigate, usePath } from './router';

interface Profile {
  id: string;
  name: string;
  emailVerified: boolean;
}

/** Pages anyone may open; every other path needs a session and sends a signed-out visitor to sign in. */
const PUBLIC_PATHS = new Set([
  '/sign-in',
  '/sign-up',
  '/verify-email',
  '/reset-password',
  // Says by itself to sign in first, and keeps the invitation's token for after.
  '/invitations/accept',
  // Shown once the account is gone, so necessarily signed out.
  '/account-deleted',
]);

export function App() {
  const path = usePath();
  const [session, setSession] = useState<'checking' | 'in' | 'out'>('checking');
  const [profile, setProfile] = useState<Profile | null>(null);
  // Bumped when something the profile shows changes (an address just verified).
  const [profileRead, setProfileRead] = useState(0);

  useEffect(() => {
    // A reload keeps the session through the refresh cookie; nothing is read from storage.
    void refresh().then((ok) => setSession(ok ? 'in' : 'out'));
  }, []);
  useEffect(() => {
    if (session !== 'in') return;
    api<Profile>('GET', '/v1/me').then(setProfile, () => setProfile(null));
    // profileRead only asks for the read again.
  }, [session, profileRead]);
  useEffect(() => {
    if (session === 'out' && !PUBLIC_PATHS.has(path)) navigate('/sign-in', { replace: true });
    if (session === 'in' && (path === '/sign-in' || path === '/sign-up')) navigate('/', { replace: true });
  }, [session, path]);
  usePageHeading(path, 'Hearth');

  const leave = async () => {
    await signOut().catch(() => undefined);
    setProfile(null);
    setSession('out');
    navigate('/sign-in', { replace: true });
  };
  const deleted = async () => {
    await forgetSession();
    setProfile(null);
    setSession('out');
    navigate('/account-deleted', { replace: true });
  };

  if (session === 'checking') return <p className="loading">Loading…</p>;
  return (
    <>
      <header className="top">
        <Link to="/" className="brand">
          Hearth
        </Link>
        {session === 'in' && isSignedIn() && (
          <nav aria-label="Account">
            {profile && <span className="who">{profile.name}</span>}
            <Link to="/account">Account</Link>
            <button type="button" className="secondary" onClick={leave}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      {session === 'in' && profile && !profile.emailVerified && <VerifyBanner />}
      <Page
        path={path}
        signedIn={session === 'in'}
        onSignedIn={() => setSession('in')}
        onVerified={() => setProfileRead((count) => count + 1)}
        myId={profile?.id ?? null}
        onDeleted={deleted}
      />
    </>
  );
}

const HOME_PATH = /^\/homes\/([0-9a-fA-F-]{36})(\/members)?$/;
const SCALE_PATH = /^\/homes\/([0-9a-fA-F-]{36})\/scale$/;
const TIMELINE_PATH = /^\/homes\/([0-9a-fA-F-]{36})(?:\/devices\/([0-9a-fA-F-]{36}))?\/events$/;

function Page(props: {
  path: string;
  signedIn: boolean;
  onSignedIn: () => void;
  onVerified: () => void;
  myId: string | null;
  onDeleted: () => void;
}) {
  const { path, signedIn, onSignedIn, onVerified, myId, onDeleted } = props;
  const [, homeId, members] = HOME_PATH.exec(path) ?? [];
  if (homeId && !signedIn) return null;
  if (homeId && members) return <MembersPage key={homeId} homeId={homeId} myId={myId} />;
  if (homeId) return <HomePage key={homeId} homeId={homeId} />;
  if (ACCOUNT_PATHS.has(path))
    return signedIn ? <AccountPage path={path} onProfileChanged={onVerified} onDeleted={onDeleted} /> : null;
  const [, scaleHome] = SCALE_PATH.exec(path) ?? [];
  if (scaleHome && !signedIn) return null;
  if (scaleHome) return <ScalePage key={scaleHome} homeId={scaleHome} myId={myId} />;
  const [, timelineHome, timelineDevice] = TIMELINE_PATH.exec(path) ?? [];
  if (timelineHome && !signedIn) return null;
  if (timelineHome) {
    return (
      <TimelinePage
        key={path}
        homeId={timelineHome}
        {...(timelineDevice ? { deviceId: timelineDevice.toLowerCase() } : {})}
      />
    );
  }
  switch (path) {
    case '/sign-in':
      return <SignInPage onSignedIn={onSignedIn} />;
    case '/sign-up':
      return <SignUpPage />;
    case '/verify-email':
      return <VerifyEmailPage signedIn={signedIn} onVerified={onVerified} />;
    case '/reset-password':
      return <ResetPasswordPage />;
    case '/invitations/accept':
      return <AcceptInvitationPage signedIn={signedIn} />;
    case '/account-deleted':
      return <AccountDeletedPage signedIn={signedIn} />;
    case '/':
      return signedIn ? <HomesPage /> : null;
    default:
      return (
        <main className="narrow">
          <h1>Page not found</h1>
          <p>
            There is nothing at this address. <Link to="/">Go to your homes</Link>
          </p>
        </main>
      );
  }
}

function VerifyBanner() {
  const resend = useSubmit(async () => {
    const { message } = await api<{ message: string }>('POST', '/v1/me/email-verification');
    return message;
  });
  return (
    <aside className="banner" aria-label="E-mail verification">
      <form onSubmit={resend.onSubmit}>
        <p>Verify your e-mail address to pair devices: follow the link we mailed you.</p>
        <button type="submit" className="secondary" disabled={resend.busy}>
          Send a new link
        </button>
        <Outcome error={resend.error} message={resend.message} />
      </form>
    </aside>
  );
}
