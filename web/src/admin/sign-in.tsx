import { Field, Outcome, text, useSubmit } from '../form';
import { operatorSignIn } from './api';

export function OperatorSignInPage() {
  const form = useSubmit(async (data) => {
    await operatorSignIn(text(data, 'email'), text(data, 'password'), text(data, 'code'));
  });
  return (
    <main className="narrow">
      <h1>Operator sign-in</h1>
      <p className="meta">
        For Hearth's staff. A customer account does not work here; the session lasts an hour and ends when you
        reload or close the page.
      </p>
      <form onSubmit={form.onSubmit}>
        <Field label="E-mail address" name="email" type="email" autoComplete="username" maxLength={254} />
        <Field label="Password" name="password" type="password" autoComplete="current-password" />
        <Field
          label="Code from your authenticator app"
          name="code"
          inputMode="numeric"
          autoComplete="one-time-code"
          maxLength={16}
        />
        <button type="submit" disabled={form.busy}>
          Sign in
        </button>
        <Outcome error={form.error} message={form.message} />
      </form>
    </main>
  );
}
