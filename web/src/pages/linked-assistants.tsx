import { useCallback, useRef, useState } from 'react';
import { ApiProblem, api, listAll } from '../api';
import { MODELS, STATE_FIELDS } from '../devices';
import { focusHeading } from '../focus';
import { Outcome, problemText, useSubmit } from '../form';
import { useLoaded } from '../load';
import type { Device } from './home';

type Provider = 'alexa' | 'google' | 'ifttt';

/** GET /v1/me/integrations: one linked assistant. */
interface LinkedAssistant {
  id: string;
  provider: Provider;
  clientName: string;
  home: { id: string; name: string | null };
  exposedDevices: { id: string; name: string; room: string | null }[];
  includeNewDevices: boolean;
  linkedAt: string;
  lastUsedAt: string | null;
}

interface LinkPage {
  items: LinkedAssistant[];
  next: string | null;
}

const PROVIDER_NAMES: Record<Provider, string> = { alexa: 'Alexa', google: 'Google Home', ifttt: 'IFTTT' };

/** The state fields the assistants' traits read (src/integrations/alexa/capabilities.ts, google/traits.ts). */
const SHARED_STATE = new Set(['on', 'brightness', 'colorTemperature', 'contact', 'motion']);

const PAGE = 20;

const when = (instant: string) => new Date(instant).toLocaleString();

const deviceName = (device: Device) => device.nickname ?? MODELS[device.model]?.title ?? device.model;

/** "Power: On · Brightness: 80 %": what an assistant reads of the device now. */
function sharedState(device: Device): string {
  return STATE_FIELDS.filter(
    ({ field }) => SHARED_STATE.has(field) && device.shadow.reported[field] !== undefined,
  )
    .map(({ field, label, format }) => `${label}: ${format(device.shadow.reported[field])}`)
    .join(' · ');
}

type ReadDevices = (homeId: string, options?: { fresh: boolean }) => Promise<Device[]>;

/** One read of each home's devices per visit, shared by the links to that home; `fresh` reads it again. */
function useHomeDevices(): ReadDevices {
  const reads = useRef(new Map<string, Promise<Device[]>>());
  return useCallback((homeId, options) => {
    const known = reads.current.get(homeId);
    if (known && !options?.fresh) return known;
    const read = listAll<Device>(`/v1/homes/${homeId}/devices`);
    reads.current.set(homeId, read);
    // A failed read is not kept: the next card or visit tries again.
    read.catch(() => reads.current.delete(homeId));
    return read;
  }, []);
}

/**
 * The assistants (Alexa, Google Home, IFTTT) linked to the account: what each one sees, which devices it
 * may see, and unlinking. Newest first; older links are added below by "Show older links".
 */
export function LinkedAssistantsPage() {
  const shown = useLoaded(() => api<LinkPage>('GET', `/v1/me/integrations?limit=${PAGE}`));
  const { error, setError } = shown;
  const links = shown.value?.items ?? null;
  const next = shown.value?.next ?? null;
  const [message, setMessage] = useState<string | null>(null);
  const readDevices = useHomeDevices();

  const showOlder = async (cursor: string) => {
    try {
      const older = await api<LinkPage>(
        'GET',
        `/v1/me/integrations?limit=${PAGE}&cursor=${encodeURIComponent(cursor)}`,
      );
      shown.setValue((page) => ({ items: [...(page?.items ?? []), ...older.items], next: older.next }));
    } catch (caught) {
      setError(problemText(caught));
    }
  };

  const unlinked = (link: LinkedAssistant) => {
    shown.setValue((page) => page && { ...page, items: page.items.filter((item) => item.id !== link.id) });
    const provider = PROVIDER_NAMES[link.provider];
    setMessage(
      `${link.clientName} is unlinked: ${provider} has been told, and can no longer see or control your devices.`,
    );
    // Its card and buttons are gone; the page's heading is where to carry on from.
    focusHeading('main h1');
  };

  return (
    <>
      <p>
        The voice assistants and services you have let use your devices. Each one sees only the devices you
        tick: their names, rooms and states. None is ever told your e-mail address or your body metrics.
      </p>
      <Outcome error={error} message={message} />
      {links === null && !error && <p>Loading…</p>}
      {links?.length === 0 && !next && (
        <section aria-labelledby="no-links" className="card account-section">
          <h2 id="no-links">No assistants linked</h2>
          <p>
            To link one, open the assistant’s own app (the Alexa app, Google Home or IFTTT), search for Hearth
            there and sign in with your Hearth account. You choose the home and which of its devices it may
            see; the link then shows here, where you can change that or unlink it.
          </p>
        </section>
      )}
      {links && links.length > 0 && (
        <ul className="people" aria-label="Linked assistants">
          {links.map((link) => (
            <LinkCard key={link.id} link={link} readDevices={readDevices} onUnlinked={() => unlinked(link)} />
          ))}
        </ul>
      )}
      {next && (
        <button type="button" className="secondary" onClick={() => void showOlder(next)}>
          Show older links
        </button>
      )}
    </>
  );
}

function LinkCard(props: { link: LinkedAssistant; readDevices: ReadDevices; onUnlinked: () => void }) {
  const { link, readDevices, onUnlinked } = props;
  const provider = PROVIDER_NAMES[link.provider];
  const title = `${link.clientName} (${provider})`;
  const headingId = `link-${link.id}`;
  return (
    <li className="card person linked-assistant" aria-labelledby={headingId}>
      <div>
        <h2 id={headingId} className="person-name">
          {title}
        </h2>
        <p className="meta">
          {link.home.name === null ? 'A home you are no longer a member of' : `Home: ${link.home.name}`} ·
          linked {when(link.linkedAt)} ·{' '}
          {link.lastUsedAt ? `last used ${when(link.lastUsedAt)}` : 'not used yet'}
        </p>
      </div>
      {link.home.name === null ? (
        <p>
          {provider} sees nothing of this home now that you have left it. Unlink it to tidy up, or keep it if
          you expect to be invited back.
        </p>
      ) : (
        <Exposure link={link} provider={provider} readDevices={readDevices} />
      )}
      <Unlink link={link} title={title} onUnlinked={onUnlinked} />
    </li>
  );
}

/**
 * The home's devices the person may see, ticked when the assistant may see them. The scale is never
 * offered: body metrics go to no assistant (the API refuses it too).
 */
function Exposure(props: { link: LinkedAssistant; provider: string; readDevices: ReadDevices }) {
  const { link, provider, readDevices } = props;
  const devices = useLoaded(() => readDevices(link.home.id));
  const offered = devices.value?.filter((device) => device.model !== 'scale') ?? null;
  const [exposed, setExposed] = useState(() => new Set(link.exposedDevices.map((device) => device.id)));
  const save = useSubmit(async (form) => {
    const ids = form.getAll('deviceId').map(String);
    try {
      const saved = await api<{ exposedDeviceIds: string[]; includeNewDevices: boolean }>(
        'PATCH',
        `/v1/me/integrations/${link.id}`,
        { exposedDeviceIds: ids, includeNewDevices: form.has('includeNewDevices') },
      );
      setExposed(new Set(saved.exposedDeviceIds));
      const count = saved.exposedDeviceIds.length;
      const later = saved.includeNewDevices
        ? 'Devices you pair later are added too.'
        : 'Devices you pair later are not added.';
      return `Saved. ${provider} now sees ${count === 0 ? 'none' : count} of your devices here, and has been told. ${later}`;
    } catch (caught) {
      // A device may have left the home since the list was read: read it again so the next Save can work.
      void readDevices(link.home.id, { fresh: true }).then(devices.setValue, () => {});
      // The API's sentence, not its per-field pointers: the ids in them mean nothing to a person.
      if (caught instanceof ApiProblem) throw new ApiProblem(caught.status, { detail: caught.message });
      throw caught;
    }
  });
  const fieldsetId = `exposure-${link.id}`;

  if (devices.error) return <Outcome error={devices.error} message={null} />;
  if (!offered) return <p>Loading the devices of {link.home.name}…</p>;
  return (
    <form onSubmit={save.onSubmit}>
      <fieldset className="choices" aria-describedby={`${fieldsetId}-hint`}>
        <legend>Devices {provider} may see</legend>
        <small id={`${fieldsetId}-hint`} className="hint">
          {provider} receives each ticked device’s name, room and state, and may control it.
        </small>
        {offered.length === 0 && <p className="meta">This home has no devices an assistant can use yet.</p>}
        {offered.map((device) => {
          const id = `${fieldsetId}-${device.id}`;
          const state = sharedState(device);
          return (
            <div key={device.id} className="choice">
              <input
                id={id}
                type="checkbox"
                name="deviceId"
                value={device.id}
                defaultChecked={exposed.has(device.id)}
                aria-describedby={state ? `${id}-state` : undefined}
              />
              <label htmlFor={id}>
                {deviceName(device)}
                {device.room ? <span className="meta"> · {device.room}</span> : null}
              </label>
              {state && (
                <small id={`${id}-state`} className="meta device-state">
                  {state}
                </small>
              )}
            </div>
          );
        })}
      </fieldset>
      <div className="choice">
        <input
          id={`${fieldsetId}-new`}
          type="checkbox"
          name="includeNewDevices"
          defaultChecked={link.includeNewDevices}
          aria-describedby={`${fieldsetId}-new-hint`}
        />
        <label htmlFor={`${fieldsetId}-new`}>Also show devices I pair later</label>
        <small id={`${fieldsetId}-new-hint`} className="meta">
          From now on, each device paired into {link.home.name} that you can see is shown to {provider} too,
          and it is told. A scale never is.
        </small>
      </div>
      <button type="submit" disabled={save.busy}>
        Save
      </button>
      <Outcome error={save.error} message={save.message} />
    </form>
  );
}

function Unlink(props: { link: LinkedAssistant; title: string; onUnlinked: () => void }) {
  const { link, title, onUnlinked } = props;
  const provider = PROVIDER_NAMES[link.provider];
  const [confirming, setConfirming] = useState(false);
  const unlink = useSubmit(async () => {
    await api('DELETE', `/v1/me/integrations/${link.id}`);
    onUnlinked();
  });
  if (!confirming) {
    return (
      <div className="actions">
        <button
          type="button"
          className="secondary"
          onClick={() => setConfirming(true)}
          aria-label={`Unlink ${title}…`}
        >
          Unlink…
        </button>
      </div>
    );
  }
  return (
    <form onSubmit={unlink.onSubmit} className="confirm-box">
      <p>
        {provider} loses access at once: it can no longer see or control any of your devices, and Hearth tells
        it so. To use it again, link it anew from its app.
      </p>
      <div className="actions">
        <button type="submit" className="danger" disabled={unlink.busy}>
          Unlink {title}
        </button>
        <button type="button" className="secondary" onClick={() => setConfirming(false)}>
          Keep it
        </button>
      </div>
      <Outcome error={unlink.error} message={null} />
    </form>
  );
}
