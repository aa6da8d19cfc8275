import { Field } from '../form';

/**
 * "Your password", asked again before a change that matters (a new address, ending sessions, turning off
 * two-step sign-in, deletion). `id` tells apart the fields of one page.
 */
export function PasswordReentry({ id, autoFocus }: { id: string; autoFocus?: boolean }) {
  return (
    <Field
      id={id}
      label="Your password"
      name="password"
      type="password"
      autoComplete="current-password"
      autoFocus={autoFocus}
    />
  );
}
