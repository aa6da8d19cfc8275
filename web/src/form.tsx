import { type FormEvent, type ReactNode, useState } from 'react';
import { ApiProblem } from './api';

/** What to tell the person about a failed call: the API's own words, or that it could not be reached. */
export const problemText = (error: unknown): string =>
  error instanceof ApiProblem ? error.describe() : 'Hearth could not be reached; try again.';

/** A form's progress: busy while sending, then the API's message or problem shown beside it. */
export function useSubmit(
  action: (form: FormData) => Promise<string | undefined | void>,
  options: { resetOnSuccess?: boolean } = {},
) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setMessage(null);
    const form = event.currentTarget;
    try {
      const done = await action(new FormData(form));
      if (typeof done === 'string') setMessage(done);
      if (options.resetOnSuccess) form.reset();
    } catch (caught) {
      setError(problemText(caught));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, message, onSubmit, setError, setMessage };
}

/** The form's outcome, announced to screen readers. */
export function Outcome({ error, message }: { error: string | null; message: string | null }) {
  return (
    <>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {message && (
        <p className="notice" role="status">
          {message}
        </p>
      )}
    </>
  );
}

export function Field(props: {
  label: string;
  /** Needed when the same form appears more than once on a page (one per device). */
  id?: string;
  name: string;
  type?: string;
  autoComplete?: string;
  required?: boolean;
  defaultValue?: string;
  maxLength?: number;
  inputMode?: 'numeric' | 'text';
  autoFocus?: boolean;
  hint?: ReactNode;
  /** Why the API refused this field (its problem's `errors`), shown under it. */
  error?: string | undefined;
}) {
  const id = props.id ?? `field-${props.name}`;
  const describedBy = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        autoComplete={props.autoComplete}
        required={props.required ?? true}
        defaultValue={props.defaultValue}
        maxLength={props.maxLength ?? 1024}
        inputMode={props.inputMode}
        autoFocus={props.autoFocus}
        aria-describedby={describedBy || undefined}
        aria-invalid={props.error ? true : undefined}
      />
      {props.hint && (
        <small id={`${id}-hint`} className="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <small id={`${id}-error`} className="error">
          {props.error}
        </small>
      )}
    </div>
  );
}

export const text = (form: FormData, name: string): string => String(form.get(name) ?? '');
