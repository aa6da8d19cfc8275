import { useCallback, useEffect, useState } from 'react';
import { api, listAll } from '../api';
import { Field, Outcome, problemText, text, useSubmit } from '../form';
import type { Device } from './home';

export interface Member {
  userId: string;
  name: string | null;
  email?: string;
  role: 'guest' | 'member' | 'admin' | 'owner';
}

/** An empty field clears the name or room (the API's null) rather than being refused. */
const nameOrNull = (form: FormData, field: string) => text(form, field).trim() || null;

/**
 * A device's settings for the home's admins and owners: its name and room, which guests it is shared with
 * (members see every device already), and removal or factory reset after a confirmation. Each change
 * shows the API's answer beside it and reads the dashboard again.
 */
export function DeviceSettings(props: {
  device: Device;
  name: string;
  homeId: string;
  onChanged: () => Promise<void>;
  /** The card moves to its new room's list, so the move is confirmed there rather than in this form. */
  onMoved: (text: string) => void;
}) {
  const { device, name, homeId, onChanged, onMoved } = props;
  const rename = useSubmit(async (form) => {
    await api('PATCH', `/v1/devices/${device.id}`, { nickname: nameOrNull(form, 'nickname') });
    await onChanged();
    return 'Name saved.';
  });
  const move = useSubmit(async (form) => {
    const room = nameOrNull(form, 'room');
    await api('PATCH', `/v1/devices/${device.id}`, { room });
    // Once the list is read again, so the confirmation appears in the card in its new room only.
    await onChanged();
    onMoved(room ? `Moved to ${room}.` : 'Now in no room.');
  });
  return (
    <div className="settings">
      <form onSubmit={rename.onSubmit}>
        <Field
          id={`${device.id}-nickname`}
          label="Name"
          name="nickname"
          required={false}
          maxLength={64}
          defaultValue={device.nickname ?? ''}
        />
        <button type="submit" className="secondary" disabled={rename.busy}>
          Save name
        </button>
        <Outcome error={rename.error} message={rename.message} />
      </form>
      <form onSubmit={move.onSubmit}>
        <Field
          id={`${device.id}-room`}
          label="Room"
          name="room"
          required={false}
          maxLength={64}
          defaultValue={device.room ?? ''}
          hint="Leave empty for no room."
        />
        <button type="submit" className="secondary" disabled={move.busy}>
          Save room
        </button>
        <Outcome error={move.error} message={move.message} />
      </form>
      <Sharing device={device} homeId={homeId} />
      <Unpair device={device} name={name} onChanged={onChanged} />
    </div>
  );
}

function Sharing({ device, homeId }: { device: Device; homeId: string }) {
  const [guests, setGuests] = useState<Member[] | null>(null);
  const [shared, setShared] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      const [members, shares] = await Promise.all([
        listAll<Member>(`/v1/homes/${homeId}/members`),
        api<{ items: { userId: string }[] }>('GET', `/v1/devices/${device.id}/shares`),
      ]);
      setGuests(members.filter((member) => member.role === 'guest'));
      setShared(new Set(shares.items.map((share) => share.userId)));
    } catch (caught) {
      setError(problemText(caught));
    }
  }, [homeId, device.id]);
  useEffect(() => {
    void load();
  }, [load]);

  const toggle = async (guest: Member) => {
    const label = guest.name ?? guest.email ?? 'this guest';
    const sharing = !shared.has(guest.userId);
    setError(null);
    setMessage(null);
    try {
      await api(sharing ? 'PUT' : 'DELETE', `/v1/devices/${device.id}/shares/${guest.userId}`);
      setMessage(sharing ? `Shared with ${label}.` : `No longer shared with ${label}.`);
      await load();
    } catch (caught) {
      setError(problemText(caught));
    }
  };

  return (
    <fieldset className="sharing">
      <legend>Shared with guests</legend>
      {guests?.length === 0 && (
        <p className="meta">
          This home has no guests. Members see every device; invite someone as a guest to share only some.
        </p>
      )}
      {guests && guests.length > 0 && (
        <ul>
          {guests.map((guest) => {
            const label = guest.name ?? guest.email ?? 'Guest';
            const isShared = shared.has(guest.userId);
            return (
              <li key={guest.userId}>
                <span>
                  {label}: {isShared ? 'can see it' : 'cannot see it'}
                </span>
                <button
                  type="button"
                  className="secondary"
                  onClick={() => void toggle(guest)}
                  aria-label={isShared ? `Stop sharing with ${label}` : `Share with ${label}`}
                >
                  {isShared ? 'Stop sharing' : 'Share'}
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <Outcome error={error} message={message} />
    </fieldset>
  );
}

function Unpair(props: { device: Device; name: string; onChanged: () => Promise<void> }) {
  const { device, name, onChanged } = props;
  const [confirming, setConfirming] = useState<'remove' | 'reset' | null>(null);
  const unpair = useSubmit(async () => {
    await api(
      confirming === 'reset' ? 'POST' : 'DELETE',
      confirming === 'reset' ? `/v1/devices/${device.id}/factory-reset` : `/v1/devices/${device.id}`,
    );
    await onChanged();
  });
  if (confirming) {
    return (
      <form onSubmit={unpair.onSubmit} className="confirm-box">
        <p>
          {confirming === 'reset'
            ? `${name} will forget this home and return to its factory settings. Its history here is deleted.`
            : `${name} leaves this home and its history is deleted. To use it again, pair it with a new code.`}
        </p>
        <div className="actions">
          <button type="submit" className="danger" disabled={unpair.busy}>
            {confirming === 'reset' ? `Factory-reset ${name}` : `Remove ${name}`}
          </button>
          <button type="button" className="secondary" onClick={() => setConfirming(null)}>
            Keep it
          </button>
        </div>
        <Outcome error={unpair.error} message={null} />
      </form>
    );
  }
  return (
    <div className="actions">
      <button type="button" className="secondary" onClick={() => setConfirming('remove')}>
        Remove…
      </button>
      <button type="button" className="secondary" onClick={() => setConfirming('reset')}>
        Factory reset…
      </button>
    </div>
  );
}
