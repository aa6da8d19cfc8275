import { useEffect } from 'react';
import { ApiProblem, api } from '../api';
import { Field, Outcome, text, useSubmit } from '../form';
import { useLoaded } from '../load';
import { Link, navigate } from '../router';
import { AccountDataPage } from './account-data';
import { SessionsPage } from './account-sessions';
import { TwoStepPage } from './account-two-step';
import { LinkedAssistantsPage } from './linked-assistants';
import { PasswordReentry } from './password-reentry';

/** GET /v1/me: what the account pages show of the person. */
export interface MyProfile {
  id: string;
  name: string;
  email: string;
  emailVerified: boolean;
  mfaEnabled: boolean;
  createdAt: string;
}

const SECTIONS = [
  { path: '/account', label: 'Profile' },
  { path: '/account/password', label: 'Password' },
  { path: '/account/two-step', label: 'Two-step sign-in' },
  { path: '/account/sessions', label: 'Sessions' },
  { path: '/account/data', label: 'Your data' },
  { path: '/account/assistants', label: 'Linked assistants' },
] as const;

export const ACCOUNT_PATHS: ReadonlySet<string> = new Set(SECTIONS.map(({ path }) => path));

/**
 * The signed-in person's account, one page per concern under /account. `onProfileChanged` lets the header
 * show a new name; `onDeleted` signs the console out once the account is gone.
 */
export function AccountPage(props: { path: string; onProfileChanged: () => void; onDeleted: () => void }) {
  const { path, onProfileChanged, onDeleted } = props;
  const section = SECTIONS.find((candidate) => candidate.path === path) ?? SECTIONS[0];
  return (
    <main>
      <h1>{section.path === '/account' ? 'Your account' : section.label}</h1>
      <nav aria-label="Account settings" className="subnav">
        <ul>
          {SECTIONS.map(({ path: to, label }) => (
            <li key={to}>
              {/* The page shown is named, not linked: the link would lead where the reader already is. */}
              {to === section.path ? <span aria-current="page">{label}</span> : <Link to={to}>{label}</Link>}
            </li>
          ))}
        </ul>
      </nav>
      {section.path === '/account' && <ProfileSection onProfileChanged={onProfileChanged} />}
      {section.path === '/account/password' && <PasswordSection />}
      {section.path === '/account/two-step' && <TwoStepPage />}
      {section.path === '/account/sessions' && <SessionsPage />}
      {section.path === '/account/data' && <AccountDataPage onDeleted={onDeleted} />}
      {section.path === '/account/assistants' && <LinkedAssistantsPage />}
    </main>
  );
}

function ProfileSection({ onProfileChanged }: { onProfileChanged: () => void }) {
  const { value: profile, setValue: setProfile, error } = useLoaded(() => api<MyProfile>('GET', '/v1/me'));

  const rename = useSubmit(async (form) => {
    setProfile(await api<MyProfile>('PATCH', '/v1/me', { name: text(form, 'name') }));
    onProfileChanged();
    return 'Name saved.';
  });
  const changeEmail = useSubmit(
    async (form) => {
      const { message } = await api<{ message: string }>('POST', '/v1/me/email', {
        newEmail: text(form, 'newEmail'),
        password: text(form, 'password'),
      });
      return message;
    },
    { resetOnSuccess: true },
  );

  if (error) return <Outcome error={error} message={null} />;
  if (!profile) return <p>Loading…</p>;
  return (
    <>
      <section aria-labelledby="profile-name" className="card account-section">
        <h2 id="profile-name">Name</h2>
        <form onSubmit={rename.onSubmit}>
          <Field
            label="Your name"
            name="name"
            autoComplete="name"
            maxLength={100}
            defaultValue={profile.name}
            hint="Shown to the people you share a home with, and in the mail Hearth sends you."
          />
          <button type="submit" disabled={rename.busy}>
            Save name
          </button>
          <Outcome error={rename.error} message={rename.message} />
        </form>
      </section>
      <section aria-labelledby="profile-email" className="card account-section">
        <h2 id="profile-email">E-mail address</h2>
        <p>
          <span className="meta">Signing in with </span>
          <strong className="address">{profile.email}</strong>
          {profile.emailVerified ? '' : ' (not verified yet)'}
        </p>
        <form onSubmit={changeEmail.onSubmit}>
          <Field
            label="New e-mail address"
            name="newEmail"
            type="email"
            autoComplete="email"
            maxLength={254}
            hint="We mail a link there; the address changes when you open it, and the old one is told."
          />
          <PasswordReentry id="email-password" />
          <button type="submit" disabled={changeEmail.busy}>
            Change e-mail address
          </button>
          <Outcome error={changeEmail.error} message={changeEmail.message} />
        </form>
      </section>
      <p className="meta">Account created {new Date(profile.createdAt).toLocaleDateString()}.</p>
    </>
  );
}

function PasswordSection() {
  const change = useSubmit(
    async (form) => {
      // Refused here, before the API hears of it, in the words the API's own refusals use.
      if (text(form, 'new') !== text(form, 'confirm'))
        throw new ApiProblem(400, { detail: 'The two new passwords are not the same.' });
      await api('POST', '/v1/me/password', { current: text(form, 'current'), new: text(form, 'new') });
      return 'Your password has been changed. Every other session has been signed out; this one stays signed in.';
    },
    { resetOnSuccess: true },
  );
  return (
    <section aria-labelledby="password-change" className="card account-section">
      <h2 id="password-change">Change your password</h2>
      <form onSubmit={change.onSubmit}>
        <Field label="Current password" name="current" type="password" autoComplete="current-password" />
        <Field
          label="New password"
          name="new"
          type="password"
          autoComplete="new-password"
          hint="8 to 128 characters. A few unrelated words are easy to remember and hard to guess."
        />
        <Field label="New password again" name="confirm" type="password" autoComplete="new-password" />
        <p className="meta">Changing it signs out every other browser and app using your account.</p>
        <button type="submit" disabled={change.busy}>
          Change password
        </button>
        <Outcome error={change.error} message={change.message} />
      </form>
    </section>
  );
}

/** Where the console lands once the account is deleted: the person is signed out, nothing is left. */
export function AccountDeletedPage({ signedIn }: { signedIn: boolean }) {
  // Someone signed in has an account: this page is not about them.
  useEffect(() => {
    if (signedIn) navigate('/', { replace: true });
  }, [signedIn]);
  if (signedIn) return null;
  return (
    <main className="narrow">
      <h1>Your account is deleted</h1>
      <p role="status">
        Your account and the data Hearth held about you have been deleted, and you have been signed out. We
        have mailed a confirmation to your address.
      </p>
      <p>
        <Link to="/sign-up">Create a new account</Link>
      </p>
    </main>
  );
}
