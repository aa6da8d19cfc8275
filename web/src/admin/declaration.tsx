import { useState } from 'react';
import { ApiProblem } from '../api';
import { Field, problemText } from '../form';
import { DATA_CATEGORIES, DEVICE_MODELS } from './catalog';
import type { Incident } from './model';

/** A field's refusal from the API's problem (`errors[].pointer` such as `/windowTo`), by field name. */
export type FieldErrors = Record<string, string>;

/** The state of a form whose refusals are shown beside each field, as well as in one alert. */
export function useFieldForm() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    setFieldErrors({});
    try {
      await work();
    } catch (caught) {
      setError(problemText(caught));
      if (caught instanceof ApiProblem) {
        const byField: FieldErrors = {};
        for (const { pointer, detail } of caught.fieldErrors) {
          const field = pointer.split('/')[1] ?? '';
          byField[field] = byField[field] ? `${byField[field]}; ${detail}` : detail;
        }
        setFieldErrors(byField);
      }
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, fieldErrors, run };
}

/** `datetime-local` speaks the browser's local time; the API speaks ISO 8601 instants. */
function localInput(iso: string | undefined): string | undefined {
  if (!iso) return undefined;
  const date = new Date(iso);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function instant(form: FormData, name: string): string | undefined {
  const value = String(form.get(name) ?? '');
  return value ? new Date(value).toISOString() : undefined;
}

/** The declaration as the API takes it (the same schema as `hearth incident declare`). */
export function declarationOf(form: FormData, withScope: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    title: String(form.get('title') ?? ''),
    description: String(form.get('description') ?? ''),
    detectedAt: instant(form, 'detectedAt'),
    windowFrom: instant(form, 'windowFrom'),
    windowTo: instant(form, 'windowTo'),
    stores: String(form.get('stores') ?? '')
      .split(',')
      .map((store) => store.trim())
      .filter(Boolean),
    categories: form.getAll('categories').map(String),
  };
  if (withScope) {
    const kind = String(form.get('scopeKind') ?? 'everyone');
    body.scope =
      kind === 'created-before'
        ? { kind, before: instant(form, 'scopeBefore') }
        : kind === 'device-owners'
          ? { kind, model: String(form.get('scopeModel') ?? '') }
          : kind === 'listed'
            ? {
                kind,
                users: String(form.get('scopeUsers') ?? '')
                  .split(/[\s,]+/)
                  .filter(Boolean),
              }
            : { kind };
  }
  return body;
}

function FieldError({ id, errors, name }: { id: string; errors: FieldErrors; name: string }) {
  return errors[name] ? (
    <small id={`${id}-error`} className="error">
      {errors[name]}
    </small>
  ) : null;
}

/** A declaration's field, with the API's refusal of it shown under it. */
function Input(props: {
  name: string;
  label: string;
  errors: FieldErrors;
  type?: string;
  defaultValue?: string | undefined;
  hint?: string;
}) {
  const { errors, ...field } = props;
  return <Field id={`incident-${props.name}`} maxLength={200} error={errors[props.name]} {...field} />;
}

/** The fields of a declaration (and of an amendment, without the scope), each showing its own refusal. */
export function DeclarationFields({
  errors,
  incident,
  withScope,
}: {
  errors: FieldErrors;
  incident?: Incident;
  withScope: boolean;
}) {
  const [scopeKind, setScopeKind] = useState('everyone');
  const now = new Date().toISOString();
  return (
    <>
      <Input name="title" label="Title" errors={errors} defaultValue={incident?.title} />
      <div className="field">
        <label htmlFor="incident-description">What happened</label>
        <textarea
          id="incident-description"
          name="description"
          rows={4}
          maxLength={5000}
          required
          defaultValue={incident?.description}
          aria-invalid={Boolean(errors.description) || undefined}
          aria-describedby={errors.description ? 'incident-description-error' : undefined}
        />
        <FieldError id="incident-description" errors={errors} name="description" />
      </div>
      <Input
        name="detectedAt"
        label="Detected at (your local time)"
        type="datetime-local"
        errors={errors}
        defaultValue={localInput(incident?.detectedAt ?? now)}
      />
      <Input
        name="windowFrom"
        label="Exposed from"
        type="datetime-local"
        errors={errors}
        defaultValue={localInput(incident?.windowFrom)}
      />
      <Input
        name="windowTo"
        label="Exposed until"
        type="datetime-local"
        errors={errors}
        defaultValue={localInput(incident?.windowTo ?? now)}
      />
      <Input
        name="stores"
        label="Exposed stores"
        errors={errors}
        hint="Comma-separated, e.g. analytics copy, support export."
        defaultValue={incident?.stores.join(', ')}
      />
      <fieldset
        className="choices"
        aria-describedby={errors.categories ? 'incident-categories-error' : undefined}
      >
        <legend>Exposed data categories</legend>
        {DATA_CATEGORIES.map((category) => (
          <label key={category.id} className="choice">
            <input
              type="checkbox"
              name="categories"
              value={category.id}
              defaultChecked={incident?.categories.includes(category.id)}
            />
            {category.label}
          </label>
        ))}
        <FieldError id="incident-categories" errors={errors} name="categories" />
      </fieldset>
      {withScope && (
        <fieldset className="choices">
          <legend>Who it concerns</legend>
          <div className="field">
            <label htmlFor="incident-scopeKind">Customers</label>
            <select
              id="incident-scopeKind"
              name="scopeKind"
              value={scopeKind}
              onChange={(event) => setScopeKind(event.target.value)}
            >
              <option value="everyone">Everyone</option>
              <option value="created-before">Accounts created before a date</option>
              <option value="device-owners">Owners of a device model</option>
              <option value="listed">A list of customers</option>
            </select>
          </div>
          {scopeKind === 'created-before' && (
            <Input name="scopeBefore" label="Created before" type="datetime-local" errors={errors} />
          )}
          {scopeKind === 'device-owners' && (
            <div className="field">
              <label htmlFor="incident-scopeModel">Device model</label>
              <select id="incident-scopeModel" name="scopeModel">
                {DEVICE_MODELS.map((model) => (
                  <option key={model}>{model}</option>
                ))}
              </select>
            </div>
          )}
          {scopeKind === 'listed' && (
            <div className="field">
              <label htmlFor="incident-scopeUsers">Customer ids or e-mail addresses</label>
              <textarea id="incident-scopeUsers" name="scopeUsers" rows={4} required />
              <small className="hint">One per line.</small>
            </div>
          )}
          <FieldError id="incident-scope" errors={errors} name="scope" />
        </fieldset>
      )}
    </>
  );
}
