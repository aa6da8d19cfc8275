import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { api, listAll } from '../api';
import { Field, Outcome, problemText, text, useSubmit } from '../form';
import { Link } from '../router';
import { type Reading, toUnit, WEIGHT_UNITS, type WeightUnit } from '../scale-units';
import type { Home } from './homes';

// uPlot and its styles load only once a chart is on screen.
const WeightChart = lazy(() => import('../weight-chart'));

interface Profile {
  id: string;
  userId: string | null;
  name: string;
  heightCm: number;
  birthDate: string;
  sex: 'female' | 'male' | 'other';
  consentGivenAt: string | null;
}

const SEX_LABELS: Record<Profile['sex'], string> = { female: 'Female', male: 'Male', other: 'Other' };
const DAY_MS = 24 * 60 * 60_000;
const RANGES = [
  { value: '30d', label: '30 days', days: 30 },
  { value: '90d', label: '90 days', days: 90 },
  { value: '1y', label: 'A year', days: 365 },
  { value: 'all', label: 'All', days: null },
] as const;
type Range = (typeof RANGES)[number]['value'];

/** The address keeps which profile, range and unit are shown: an id and two words, nothing personal. */
function readView(): { profile: string | null; range: Range; unit: WeightUnit } {
  const query = new URLSearchParams(location.search);
  const range = RANGES.find((r) => r.value === query.get('range'))?.value ?? '90d';
  const unit = WEIGHT_UNITS.find((u) => u === query.get('unit')) ?? 'kg';
  const profile = query.get('profile');
  return { profile: profile && /^[0-9a-f-]{36}$/.test(profile) ? profile : null, range, unit };
}

/**
 * A home's body profiles and what its scale measured for them. Readings are stored only while the
 * person's consent is on record (src/scale/service.ts); withdrawing it deletes them all at once, so the
 * page says so and asks first. Which profiles a person sees, and who may consent, is the API's to decide.
 */
export function ScalePage({ homeId, myId }: { homeId: string; myId: string | null }) {
  const [home, setHome] = useState<Home | null>(null);
  const [profiles, setProfiles] = useState<Profile[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [view, setView] = useState(readView);

  const load = useCallback(async () => {
    try {
      const [read, listed] = await Promise.all([
        api<Home>('GET', `/v1/homes/${homeId}`),
        listAll<Profile>(`/v1/homes/${homeId}/body-profiles`),
      ]);
      setHome(read);
      setProfiles(listed);
      setError(null);
    } catch (caught) {
      setError(problemText(caught));
    }
  }, [homeId]);
  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    const query = new URLSearchParams();
    if (view.profile) query.set('profile', view.profile);
    if (view.range !== '90d') query.set('range', view.range);
    if (view.unit !== 'kg') query.set('unit', view.unit);
    const search = query.toString();
    history.replaceState(null, '', `${location.pathname}${search ? `?${search}` : ''}`);
  }, [view]);

  // A profile deleted (or never visible) is not kept in the address.
  useEffect(() => {
    if (profiles && view.profile && !profiles.some((profile) => profile.id === view.profile)) {
      setView((now) => ({ ...now, profile: null }));
    }
  }, [profiles, view.profile]);

  const create = useSubmit(
    async (form) => {
      const created = await api<Profile>('POST', `/v1/homes/${homeId}/body-profiles`, {
        ...profileFields(form),
        ...(form.get('me') === 'on' && myId ? { userId: myId } : {}),
      });
      await load();
      return `Profile for ${created.name} added. Give consent to start storing the scale's readings.`;
    },
    { resetOnSuccess: true },
  );

  const guest = home?.role === 'guest';
  const shown = profiles?.find((profile) => profile.id === view.profile) ?? null;
  return (
    <main>
      <p>
        <Link to={`/homes/${homeId}`}>← {home?.name ?? 'Home'}</Link>
      </p>
      <h1>Body profiles in {home?.name ?? 'this home'}</h1>
      <p className="meta">
        The scale stores a reading only for a profile whose person has consented. Only the person a profile
        describes sees it; a profile for someone without an account is seen by whoever added it and the home's
        admins and owners.
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {profiles === null && !error && <p role="status">Loading…</p>}
      {profiles?.length === 0 && (
        <p className="empty">
          {guest
            ? 'There are no body profiles for you in this home.'
            : 'No body profiles yet. Add one below.'}
        </p>
      )}
      {profiles && profiles.length > 0 && (
        <ul className="cards">
          {profiles.map((profile) => (
            <ProfileCard
              key={profile.id}
              profile={profile}
              selected={profile.id === view.profile}
              onSelect={() => setView((now) => ({ ...now, profile: profile.id }))}
              onChanged={load}
            />
          ))}
        </ul>
      )}
      {shown && (
        <Readings
          profile={shown}
          range={view.range}
          unit={view.unit}
          onRange={(range) => setView((now) => ({ ...now, range }))}
          onUnit={(unit) => setView((now) => ({ ...now, unit }))}
        />
      )}
      {home && !guest && (
        <section aria-labelledby="add-profile">
          <h2 id="add-profile">Add a body profile</h2>
          <form onSubmit={create.onSubmit} className="inline">
            <ProfileFields />
            {myId && (
              <div className="check">
                <input id="profile-me" name="me" type="checkbox" />
                <label htmlFor="profile-me">This profile is me (only I will see it)</label>
              </div>
            )}
            <button type="submit" disabled={create.busy}>
              Add profile
            </button>
            <Outcome error={create.error} message={create.message} />
          </form>
        </section>
      )}
    </main>
  );
}

function profileFields(form: FormData) {
  return {
    name: text(form, 'name'),
    heightCm: Number(text(form, 'heightCm')),
    birthDate: text(form, 'birthDate'),
    sex: text(form, 'sex'),
  };
}

function ProfileFields({ profile, prefix = 'new' }: { profile?: Profile; prefix?: string }) {
  return (
    <>
      <Field label="Name" id={`${prefix}-name`} name="name" defaultValue={profile?.name} maxLength={100} />
      <Field
        label="Height (cm)"
        id={`${prefix}-height`}
        name="heightCm"
        type="number"
        inputMode="numeric"
        defaultValue={profile ? String(profile.heightCm) : undefined}
      />
      <Field
        label="Birth date"
        id={`${prefix}-birth`}
        name="birthDate"
        type="date"
        defaultValue={profile?.birthDate}
      />
      <div className="field">
        <label htmlFor={`${prefix}-sex`}>Sex (for body-composition formulas)</label>
        <select id={`${prefix}-sex`} name="sex" defaultValue={profile?.sex ?? 'female'}>
          {Object.entries(SEX_LABELS).map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
    </>
  );
}

function ProfileCard(props: {
  profile: Profile;
  selected: boolean;
  onSelect: () => void;
  onChanged: () => Promise<void>;
}) {
  const { profile, selected, onSelect, onChanged } = props;
  const [mode, setMode] = useState<'view' | 'edit' | 'withdraw' | 'delete'>('view');
  const [message, setMessage] = useState<string | null>(null);
  const finish = async (done: string) => {
    setMode('view');
    setMessage(done);
    await onChanged();
  };
  const edit = useSubmit(async (form) => {
    await api('PATCH', `/v1/body-profiles/${profile.id}`, profileFields(form));
    await finish('Profile saved.');
  });
  const consent = useSubmit(async () => {
    await api('PUT', `/v1/body-profiles/${profile.id}/consent`, { consent: true });
    await finish(`Consent recorded: the scale's readings for ${profile.name} are stored from now on.`);
  });
  const withdraw = useSubmit(async () => {
    await api('DELETE', `/v1/body-profiles/${profile.id}/consent`);
    await finish(
      `Consent withdrawn: every reading of ${profile.name} was deleted, and new ones are no longer stored.`,
    );
  });
  const remove = useSubmit(async () => {
    await api('DELETE', `/v1/body-profiles/${profile.id}`);
    await onChanged();
  });
  const consented = profile.consentGivenAt !== null;

  return (
    <li className={selected ? 'card profile selected' : 'card profile'} aria-label={profile.name}>
      <h2>{profile.name}</h2>
      <p className="meta">
        {profile.heightCm} cm · born {profile.birthDate} · {SEX_LABELS[profile.sex]}
        {profile.userId ? ' · linked to an account' : ''}
      </p>
      <p className={consented ? 'notice' : 'meta'}>
        {consented
          ? `Consent on record since ${new Date(profile.consentGivenAt ?? '').toLocaleDateString()}.`
          : 'No consent: the scale’s readings for this profile are dropped.'}
      </p>
      {mode === 'edit' ? (
        <form onSubmit={edit.onSubmit} aria-label={`Edit ${profile.name}`}>
          <ProfileFields profile={profile} prefix={`edit-${profile.id}`} />
          <div className="actions">
            <button type="submit" disabled={edit.busy}>
              Save
            </button>
            <button type="button" className="secondary" onClick={() => setMode('view')}>
              Cancel
            </button>
          </div>
          <Outcome error={edit.error} message={null} />
        </form>
      ) : mode === 'withdraw' ? (
        <form onSubmit={withdraw.onSubmit} className="confirm-box">
          <p>
            Withdrawing consent deletes every stored reading of {profile.name} now, and the scale stops
            storing new ones. The profile itself stays.
          </p>
          <div className="actions">
            <button type="submit" className="danger" disabled={withdraw.busy}>
              Withdraw consent and delete readings
            </button>
            <button type="button" className="secondary" onClick={() => setMode('view')}>
              Keep consent
            </button>
          </div>
        </form>
      ) : mode === 'delete' ? (
        <form onSubmit={remove.onSubmit} className="confirm-box">
          <p>Deleting the profile deletes all of {profile.name}’s readings with it.</p>
          <div className="actions">
            <button type="submit" className="danger" disabled={remove.busy}>
              Delete {profile.name} and all readings
            </button>
            <button type="button" className="secondary" onClick={() => setMode('view')}>
              Keep it
            </button>
          </div>
        </form>
      ) : (
        <div className="actions">
          <button type="button" className="secondary" aria-pressed={selected} onClick={onSelect}>
            Show readings
          </button>
          {consented ? (
            <button type="button" className="secondary" onClick={() => setMode('withdraw')}>
              Withdraw consent…
            </button>
          ) : (
            <form onSubmit={consent.onSubmit} className="confirm">
              <button type="submit" disabled={consent.busy}>
                Give consent to store readings
              </button>
            </form>
          )}
          <button type="button" className="secondary" onClick={() => setMode('edit')}>
            Edit
          </button>
          <button type="button" className="secondary" onClick={() => setMode('delete')}>
            Delete…
          </button>
        </div>
      )}
      <Outcome
        error={consent.error ?? withdraw.error ?? remove.error}
        message={mode === 'view' ? message || null : null}
      />
    </li>
  );
}

function Readings(props: {
  profile: Profile;
  range: Range;
  unit: WeightUnit;
  onRange: (range: Range) => void;
  onUnit: (unit: WeightUnit) => void;
}) {
  const { profile, range, unit, onRange, onUnit } = props;
  const [readings, setReadings] = useState<Reading[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const consentedAt = profile.consentGivenAt;
  useEffect(() => {
    let current = true;
    setReadings(null);
    const days = RANGES.find((r) => r.value === range)?.days ?? null;
    const from = days ? `?from=${new Date(Date.now() - days * DAY_MS).toISOString()}` : '';
    listAll<Reading>(`/v1/body-profiles/${profile.id}/readings${from}`).then(
      (listed) => {
        if (!current) return;
        setReadings(listed);
        setError(null);
      },
      (caught: unknown) => current && setError(problemText(caught)),
    );
    return () => {
      current = false;
    };
    // Read again when consent changes: withdrawal deletes them all.
  }, [profile.id, range, consentedAt]);

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const weights = (readings ?? []).map((reading) => toUnit(reading.weightKg, unit));
  const rangeLabel = RANGES.find((r) => r.value === range)?.label ?? '';
  return (
    <section aria-labelledby="readings" className="readings">
      <h2 id="readings">Readings of {profile.name}</h2>
      <Choice label="Period" options={RANGES} value={range} onChange={onRange} />
      <Choice
        label="Unit"
        options={WEIGHT_UNITS.map((option) => ({ value: option, label: option }))}
        value={unit}
        onChange={onUnit}
      />
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {readings === null && !error && <p role="status">Loading readings…</p>}
      {readings?.length === 0 && (
        <p className="empty">
          {profile.consentGivenAt
            ? `No readings in this period (${rangeLabel.toLowerCase()}). Step on the scale to add one.`
            : 'No readings: without consent the scale’s readings are not stored.'}
        </p>
      )}
      {readings && readings.length > 0 && (
        <>
          <p role="status">
            {readings.length} {readings.length === 1 ? 'reading' : 'readings'} in this period: weight from{' '}
            {Math.min(...weights)} to {Math.max(...weights)} {unit}, latest {weights[0]} {unit}.
          </p>
          <Suspense fallback={<p>Loading the chart…</p>}>
            <WeightChart readings={readings} unit={unit} />
          </Suspense>
          <table className="readings-table">
            <caption>Readings of {profile.name}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Measured</th>
                <th scope="col">Weight ({unit})</th>
                <th scope="col">Body fat (%)</th>
                <th scope="col">BMI</th>
              </tr>
            </thead>
            <tbody>
              {readings.map((reading, index) => (
                <tr key={reading.id}>
                  <td>
                    <time dateTime={reading.measuredAt}>
                      {dateFormat.format(new Date(reading.measuredAt))}
                    </time>
                  </td>
                  <td>{weights[index]}</td>
                  <td>{reading.bodyFatPct ?? '—'}</td>
                  <td>{reading.bmi}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/** A row of toggle buttons of which one is pressed: the period or the unit of the readings. */
function Choice<T extends string>(props: {
  label: string;
  options: readonly { value: T; label: string }[];
  value: T;
  onChange: (value: T) => void;
}) {
  const id = `choice-${props.label.toLowerCase()}`;
  return (
    <div className="actions" role="group" aria-labelledby={id}>
      <span id={id} className="group-label">
        {props.label}
      </span>
      {props.options.map((option) => (
        <button
          key={option.value}
          type="button"
          className="secondary"
          aria-pressed={option.value === props.value}
          onClick={() => props.onChange(option.value)}
        >
          {option.label}
        </button>
      ))}
    </div>
  );
}
