import { useCallback, useEffect, useRef, useState } from 'react';
import { api, listAll } from '../api';
import { type Control, MODELS, STATE_FIELDS } from '../devices';
import { problemText } from '../form';
import { type LiveState, liveStatusText, watchHome } from '../live';
import { Link } from '../router';
import { DeviceSettings } from './device-settings';
import type { Home } from './homes';
import { PairingPanel } from './pairing';

export interface Device {
  id: string;
  model: string;
  nickname: string | null;
  room: string | null;
  online: { connected: boolean; lastSeenAt: string | null };
  shadow: { reported: Record<string, unknown>; reportedVersion: number };
}

const listDevices = (homeId: string) => listAll<Device>(`/v1/homes/${homeId}/devices`);

/** A live state onto what is shown: newer reported state wins, whatever order list and stream arrive in. */
function applyLive(device: Device, live: LiveState): Device {
  const newer = live.reportedVersion >= device.shadow.reportedVersion;
  return {
    ...device,
    online: { connected: live.connected, lastSeenAt: live.lastSeenAt },
    shadow: newer ? { reported: live.reported, reportedVersion: live.reportedVersion } : device.shadow,
  };
}

export function HomePage({ homeId }: { homeId: string }) {
  const [home, setHome] = useState<Home | null>(null);
  const [devices, setDevices] = useState<Map<string, Device> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [connection, setConnection] = useState<string>('Connecting…');
  // The devices there were when a claim code was shown: the first one beyond them is the one that joined.
  const [pairingFrom, setPairingFrom] = useState<Set<string> | null>(null);
  const [paired, setPaired] = useState<string | null>(null);
  useEffect(() => {
    if (!pairingFrom || !devices) return;
    const joined = [...devices.values()].find((device) => !pairingFrom.has(device.id));
    if (!joined) return;
    setPaired(joined.nickname ?? MODELS[joined.model]?.title ?? joined.model);
    setPairingFrom(null);
  }, [pairingFrom, devices]);

  const reload = useCallback(async () => {
    try {
      const listed = await listDevices(homeId);
      setDevices((shown) => {
        const next = new Map<string, Device>();
        for (const device of listed) {
          const before = shown?.get(device.id);
          next.set(
            device.id,
            before && before.shadow.reportedVersion > device.shadow.reportedVersion
              ? { ...device, shadow: before.shadow }
              : device,
          );
        }
        return next;
      });
    } catch (caught) {
      setError(problemText(caught));
    }
  }, [homeId]);

  useEffect(() => {
    api<Home>('GET', `/v1/homes/${homeId}`).then(setHome, (caught: unknown) => setError(problemText(caught)));
    const stop = new AbortController();
    void watchHome(
      homeId,
      {
        ready: () => void reload(),
        state: (live) =>
          setDevices((shown) => {
            const device = shown?.get(live.deviceId);
            // A device paired since the list was read: read it again.
            if (!shown || !device) {
              void reload();
              return shown;
            }
            return new Map(shown).set(device.id, applyLive(device, live));
          }),
        connection: (status, reason) =>
          setConnection(liveStatusText(status, reason, 'changes appear as they happen.')),
      },
      stop.signal,
    );
    return () => stop.abort();
  }, [homeId, reload]);

  const canManage = home?.role === 'owner' || home?.role === 'admin';
  // Kept here rather than in the card: a device moved to another room is drawn anew in that room's list,
  // and should arrive there with its settings still open and the move confirmed.
  const [settingsOf, setSettingsOf] = useState<string | null>(null);
  const [moved, setMoved] = useState<{ deviceId: string; text: string } | null>(null);
  const rooms = new Map<string, Device[]>();
  for (const device of devices?.values() ?? []) {
    const room = device.room ?? '';
    rooms.set(room, [...(rooms.get(room) ?? []), device]);
  }
  const roomNames = [...rooms.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)));

  return (
    <main>
      <p>
        <Link to="/">← Your homes</Link>
      </p>
      <h1>{home?.name ?? 'Home'}</h1>
      <p>
        <Link to={`/homes/${homeId}/members`}>People in this home</Link>
        {' · '}
        <Link to={`/homes/${homeId}/events`}>Event timeline</Link>
        {' · '}
        <Link to={`/homes/${homeId}/scale`}>Body profiles and scale</Link>
      </p>
      <p className="meta" role="status">
        {connection}
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {devices && canManage && (
        <PairingPanel
          homeId={homeId}
          paired={paired}
          onOpen={() => {
            setPaired(null);
            setPairingFrom(new Set(devices.keys()));
          }}
        />
      )}
      {devices === null && !error && <p>Loading…</p>}
      {devices?.size === 0 && (
        <p className="empty">
          No devices in this home yet. Devices appear here as soon as they are paired with a claim code from
          this home.
        </p>
      )}
      {roomNames.map((room, index) => (
        // Numbered ids: a room's name may hold spaces, which would split an aria-labelledby reference.
        <section key={room} aria-labelledby={`room-${index}`}>
          <h2 id={`room-${index}`}>{room || 'No room'}</h2>
          <ul className="cards">
            {(rooms.get(room) ?? []).map((device) => (
              <DeviceCard
                key={device.id}
                homeId={homeId}
                device={device}
                manage={
                  canManage
                    ? {
                        homeId,
                        onChanged: reload,
                        open: settingsOf === device.id,
                        setOpen: (open) => setSettingsOf(open ? device.id : null),
                        notice: moved?.deviceId === device.id ? moved.text : null,
                        announceMove: (text) => setMoved({ deviceId: device.id, text }),
                      }
                    : null
                }
              />
            ))}
          </ul>
        </section>
      ))}
    </main>
  );
}

function DeviceCard(props: {
  homeId: string;
  device: Device;
  /** For the home's admins and owners, who may rename, move, share, remove and reset. */
  manage: {
    homeId: string;
    onChanged: () => Promise<void>;
    open: boolean;
    setOpen: (open: boolean) => void;
    notice: string | null;
    announceMove: (text: string) => void;
  } | null;
}) {
  const { device, manage } = props;
  const managing = manage?.open ?? false;
  const movedNotice = useRef<HTMLParagraphElement>(null);
  const notice = manage?.notice ?? null;
  useEffect(() => {
    // The card was drawn anew in its new room: take the focus there, where the change is confirmed.
    if (notice) movedNotice.current?.focus();
  }, [notice]);
  const model = MODELS[device.model] ?? { title: device.model, controls: [] };
  const name = device.nickname ?? model.title;
  const reported = device.shadow.reported;
  const [outcome, setOutcome] = useState<{ error: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const send = async (command: string, params: Record<string, unknown>, label: string) => {
    setBusy(true);
    setOutcome({ error: false, text: `${label}: waiting for the device…` });
    try {
      const result = await api<{ status: string; error: string | null }>(
        'POST',
        `/v1/devices/${device.id}/commands`,
        { name: command, params },
      );
      setOutcome(
        result.status === 'acknowledged'
          ? { error: false, text: `${label}: done, the device confirmed.` }
          : { error: true, text: `${label}: the device refused${result.error ? ` (${result.error})` : ''}.` },
      );
    } catch (caught) {
      setOutcome({ error: true, text: `${label}: ${problemText(caught)}` });
    } finally {
      setBusy(false);
    }
  };

  return (
    <li className="card device" aria-label={name}>
      <div className="device-head">
        <h3>{name}</h3>
        <span className={device.online.connected ? 'pill online' : 'pill offline'}>
          {device.online.connected ? 'Online' : 'Offline'}
        </span>
      </div>
      {device.nickname && <p className="meta">{model.title}</p>}
      <dl className="state">
        {STATE_FIELDS.filter(({ field }) => reported[field] !== undefined).map(({ field, label, format }) => (
          <div key={field}>
            <dt>{label}</dt>
            <dd data-field={field}>{format(reported[field])}</dd>
          </div>
        ))}
      </dl>
      <p className="device-links">
        <Link to={`/homes/${props.homeId}/devices/${device.id}/events`}>
          Events<span className="visually-hidden"> of {name}</span>
        </Link>
      </p>
      {model.controls.length > 0 && (
        <div className="controls">
          {model.controls.map((control) => (
            <ControlInput
              key={control.command}
              control={control}
              device={device}
              busy={busy || !device.online.connected}
              send={send}
            />
          ))}
        </div>
      )}
      {outcome && (
        <p className={outcome.error ? 'error' : 'notice'} role="status">
          {outcome.text}
        </p>
      )}
      {manage && (
        <button
          type="button"
          className="secondary manage-toggle"
          aria-expanded={managing}
          onClick={() => manage.setOpen(!managing)}
        >
          {managing ? 'Close settings' : 'Settings'}
        </button>
      )}
      {notice && (
        <p className="notice" role="status" tabIndex={-1} ref={movedNotice}>
          {notice}
        </p>
      )}
      {manage && managing && (
        <DeviceSettings
          device={device}
          name={name}
          homeId={manage.homeId}
          onChanged={manage.onChanged}
          onMoved={manage.announceMove}
        />
      )}
    </li>
  );
}

function ControlInput(props: {
  control: Control;
  device: Device;
  busy: boolean;
  send: (command: string, params: Record<string, unknown>, label: string) => Promise<void>;
}) {
  const { control, device, busy, send } = props;
  const reported = device.shadow.reported;
  const name = device.nickname ?? MODELS[device.model]?.title ?? device.model;
  if (control.kind === 'toggle') {
    const on = reported[control.field] === true;
    return (
      <button
        type="button"
        className="secondary"
        aria-pressed={on}
        disabled={busy}
        onClick={() => void send(control.command, { on: !on }, `${control.label} ${on ? 'off' : 'on'}`)}
      >
        {control.label}: {on ? 'on' : 'off'} — turn {on ? 'off' : 'on'}
      </button>
    );
  }
  if (control.kind === 'action') {
    return (
      <button
        type="button"
        className="secondary"
        disabled={busy}
        onClick={() => void send(control.command, {}, control.label)}
      >
        {control.label}
      </button>
    );
  }
  const current =
    typeof reported[control.field] === 'number' ? (reported[control.field] as number) : control.min;
  const id = `${device.id}-${control.command}`;
  return (
    <form
      className="range"
      onSubmit={(event) => {
        event.preventDefault();
        const value = Number(new FormData(event.currentTarget).get('value'));
        void send(control.command, { [control.param]: value }, `${control.label} ${value}${control.unit}`);
      }}
    >
      <label htmlFor={id}>
        {control.label} of {name}
      </label>
      <input
        id={id}
        name="value"
        type="range"
        min={control.min}
        max={control.max}
        step={control.step}
        defaultValue={current}
        key={current}
      />
      <button type="submit" className="secondary" disabled={busy}>
        Set
      </button>
    </form>
  );
}
