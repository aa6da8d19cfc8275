import { useEffect, useRef, useState } from 'react';
import { ApiProblem, api, signIn } from '../api';
import { Field, Outcome, text, useSubmit } from '../form';
import { Link, navigate, takeFragmentToken, takeReturnPath } from '../router';

export function SignInPage({ onSignedIn }: { onSignedIn: () => void }) {
  const [needsCode, setNeedsCode] = useState(false);
  const form = useSubmit(async (data) => {
    try {
      await signIn(text(data, 'email'), text(data, 'password'), text(data, 'totpCode') || undefined);
    } catch (error) {
      if (error instanceof ApiProblem && error.type === '/problems/totp-required' && !needsCode) {
        setNeedsCode(true);
        return 'Enter the code from your authenticator app (or a recovery code).';
      }
      throw error;
    }
    onSignedIn();
    navigate(takeReturnPath(), { replace: true });
  });
  return (
    <main className="narrow">
      <h1>Sign in</h1>
      <form onSubmit={form.onSubmit}>
        <Field label="E-mail address" name="email" type="email" autoComplete="email" maxLength={254} />
        <Field label="Password" name="password" type="password" autoComplete="current-password" />
        {needsCode && (
          <Field
            label="Code from your authenticator app"
            name="totpCode"
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={64}
            autoFocus
          />
        )}
        <button type="submit" disabled={form.busy}>
          Sign in
        </button>
        <Outcome error={form.error} message={form.message} />
      </form>
      <p>
        <Link to="/reset-password">Forgot your password?</Link>
      </p>
      <p>
        No account yet? <Link to="/sign-up">Create one</Link>
      </p>
    </main>
  );
}

export function SignUpPage() {
  const [done, setDone] = useState<string | null>(null);
  const form = useSubmit(async (data) => {
    const { message } = await api<{ message: string }>('POST', '/v1/accounts', {
      name: text(data, 'name'),
      email: text(data, 'email'),
      password: text(data, 'password'),
    });
    setDone(message);
  });
  return (
    <main className="narrow">
      <h1>Create your account</h1>
      {done ? (
        <>
          <p role="status">{done}</p>
          <p>
            Verified already? <Link to="/sign-in">Sign in</Link>
          </p>
        </>
      ) : (
        <form onSubmit={form.onSubmit}>
          <Field label="Your name" name="name" autoComplete="name" maxLength={100} />
          <Field label="E-mail address" name="email" type="email" autoComplete="email" maxLength={254} />
          <Field
            label="Password"
            name="password"
            type="password"
            autoComplete="new-password"
            hint="8 to 128 characters. A few unrelated words are easy to remember and hard to guess."
          />
          <button type="submit" disabled={form.busy}>
            Create account
          </button>
          <Outcome error={form.error} message={form.message} />
        </form>
      )}
      <p>
        Have an account? <Link to="/sign-in">Sign in</Link>
      </p>
    </main>
  );
}

/** Where the mailed verification link lands: the token from the fragment goes to the API at once. */
export function VerifyEmailPage({ signedIn, onVerified }: { signedIn: boolean; onVerified: () => void }) {
  const [token] = useState(takeFragmentToken);
  // The link works once: the post below must run once per token, whatever the parent re-renders.
  const verified = useRef(onVerified);
  verified.current = onVerified;
  const [state, setState] = useState<{ ok: boolean; text: string }>({
    ok: true,
    text: 'Checking your link…',
  });
  useEffect(() => {
    if (!token) {
      setState({ ok: false, text: 'This page needs the link from your e-mail. Open the link again.' });
      return;
    }
    api<{ result: string }>('POST', '/v1/email-verifications', { token }).then(
      ({ result }) => {
        setState({
          ok: true,
          text:
            result === 'email-changed'
              ? 'Your e-mail address has been changed.'
              : 'Your e-mail address is verified.',
        });
        verified.current();
      },
      (error: unknown) =>
        setState({
          ok: false,
          text: error instanceof ApiProblem ? error.describe() : 'Hearth could not be reached; try again.',
        }),
    );
  }, [token]);
  return (
    <main className="narrow">
      <h1>Verify your e-mail address</h1>
      <p role="status" className={state.ok ? undefined : 'error'}>
        {state.text}
      </p>
      <p>{signedIn ? <Link to="/">Go to your homes</Link> : <Link to="/sign-in">Sign in</Link>}</p>
    </main>
  );
}

export function ResetPasswordPage() {
  const [token] = useState(takeFragmentToken);
  const [done, setDone] = useState<string | null>(null);
  const form = useSubmit(async (data) => {
    if (token) {
      if (text(data, 'password') !== text(data, 'confirm')) {
        form.setError('The two passwords are not the same.');
        return;
      }
      await api('POST', '/v1/password-resets/complete', { token, password: text(data, 'password') });
      setDone('Your password has been changed and every session has been signed out.');
    } else {
      const { message } = await api<{ message: string }>('POST', '/v1/password-resets', {
        email: text(data, 'email'),
      });
      setDone(message);
    }
  });
  return (
    <main className="narrow">
      <h1>{token ? 'Choose a new password' : 'Forgot your password?'}</h1>
      {done ? (
        <p role="status">{done}</p>
      ) : (
        <form onSubmit={form.onSubmit}>
          {token ? (
            <>
              <Field label="New password" name="password" type="password" autoComplete="new-password" />
              <Field label="The same again" name="confirm" type="password" autoComplete="new-password" />
            </>
          ) : (
            <Field label="E-mail address" name="email" type="email" autoComplete="email" maxLength={254} />
          )}
          <button type="submit" disabled={form.busy}>
            {token ? 'Change password' : 'Send me a link'}
          </button>
          <Outcome error={form.error} message={form.message} />
        </form>
      )}
      <p>
        <Link to="/sign-in">Sign in</Link>
      </p>
    </main>
  );
}
