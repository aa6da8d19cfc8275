import { useCallback, useEffect, useState } from 'react';
import { api, listAll } from '../api';
import { Field, Outcome, problemText, text, useSubmit } from '../form';
import { Link, navigate } from '../router';
import type { Member } from './device-settings';
import type { Home } from './homes';
import { roleName } from './invitation';

interface Invitation {
  id: string;
  email: string;
  role: 'admin' | 'member' | 'guest';
  expiresAt: string;
}

const ROLES: { value: Home['role']; label: string }[] = [
  { value: 'owner', label: 'Owner' },
  { value: 'admin', label: 'Admin' },
  { value: 'member', label: 'Member' },
  { value: 'guest', label: 'Guest (sees only devices shared with them)' },
];

/**
 * A home's people: members and their roles, invitations by e-mail and those still pending. What each role
 * may change is the API's to decide (owners anything, admins members and guests, the last owner stays);
 * its refusals are shown as they come.
 */
export function MembersPage({ homeId, myId }: { homeId: string; myId: string | null }) {
  const [home, setHome] = useState<Home | null>(null);
  const [members, setMembers] = useState<Member[] | null>(null);
  const [invitations, setInvitations] = useState<Invitation[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const manages = home?.role === 'owner' || home?.role === 'admin';

  const load = useCallback(async () => {
    try {
      const [read, people] = await Promise.all([
        api<Home>('GET', `/v1/homes/${homeId}`),
        listAll<Member>(`/v1/homes/${homeId}/members`),
      ]);
      setHome(read);
      setMembers(people);
      if (read.role === 'owner' || read.role === 'admin')
        setInvitations(await listAll<Invitation>(`/v1/homes/${homeId}/invitations`));
      setError(null);
    } catch (caught) {
      setError(problemText(caught));
    }
  }, [homeId]);
  useEffect(() => {
    void load();
  }, [load]);

  const invite = useSubmit(
    async (form) => {
      const email = text(form, 'email');
      await api('POST', `/v1/homes/${homeId}/invitations`, { email, role: text(form, 'role') });
      await load();
      return `Invitation sent to ${email}.`;
    },
    { resetOnSuccess: true },
  );

  return (
    <main>
      <p>
        <Link to={`/homes/${homeId}`}>← {home?.name ?? 'Home'}</Link>
      </p>
      <h1>People in {home?.name ?? 'this home'}</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {members === null && !error && <p>Loading…</p>}
      {members && (
        <section aria-labelledby="members">
          <h2 id="members">Members</h2>
          <ul className="people">
            {members.map((member) => (
              <MemberRow
                key={member.userId}
                homeId={homeId}
                member={member}
                isMe={member.userId === myId}
                manages={manages}
                onChanged={load}
              />
            ))}
          </ul>
        </section>
      )}
      {manages && (
        <>
          <section aria-labelledby="invite">
            <h2 id="invite">Invite someone</h2>
            <form onSubmit={invite.onSubmit} className="inline">
              <Field label="E-mail address" name="email" type="email" autoComplete="off" maxLength={254} />
              <div className="field">
                <label htmlFor="invite-role">Role</label>
                <select id="invite-role" name="role" defaultValue="member">
                  {ROLES.filter(({ value }) => value !== 'owner').map(({ value, label }) => (
                    <option key={value} value={value}>
                      {label}
                    </option>
                  ))}
                </select>
              </div>
              <button type="submit" disabled={invite.busy}>
                Send invitation
              </button>
              <Outcome error={invite.error} message={invite.message} />
            </form>
          </section>
          <section aria-labelledby="pending">
            <h2 id="pending">Pending invitations</h2>
            {invitations?.length === 0 && <p className="meta">No invitations are waiting for an answer.</p>}
            <ul className="people">
              {invitations?.map((invitation) => (
                <InvitationRow key={invitation.id} homeId={homeId} invitation={invitation} onChanged={load} />
              ))}
            </ul>
          </section>
        </>
      )}
    </main>
  );
}

function MemberRow(props: {
  homeId: string;
  member: Member;
  isMe: boolean;
  manages: boolean;
  onChanged: () => Promise<void>;
}) {
  const { homeId, member, isMe, manages, onChanged } = props;
  const label = member.name ?? member.email ?? 'Someone';
  const [confirming, setConfirming] = useState(false);
  // Controlled, so a refused change shows the role the person still has rather than the one picked.
  const [chosen, setChosen] = useState(member.role);
  const change = useSubmit(async () => {
    try {
      await api('PATCH', `/v1/homes/${homeId}/members/${member.userId}`, { role: chosen });
    } catch (error) {
      setChosen(member.role);
      throw error;
    }
    await onChanged();
    return 'Role changed.';
  });
  const remove = useSubmit(async () => {
    await api('DELETE', `/v1/homes/${homeId}/members/${member.userId}`);
    // Having left, the home is no longer there to show.
    if (isMe) return navigate('/', { replace: true });
    setConfirming(false);
    await onChanged();
  });
  const roleId = `role-${member.userId}`;
  return (
    <li className="card person" aria-label={label}>
      <div>
        <h3 className="person-name">
          {label}
          {isMe && ' (you)'}
        </h3>
        {member.email && member.name && <p className="meta">{member.email}</p>}
        <p className="meta">{ROLES.find(({ value }) => value === member.role)?.label}</p>
      </div>
      {manages && (
        <form onSubmit={change.onSubmit} className="role-form">
          <label htmlFor={roleId}>Role of {label}</label>
          <select
            id={roleId}
            name="role"
            value={chosen}
            onChange={(event) => setChosen(event.target.value as Member['role'])}
          >
            {ROLES.map(({ value, label: roleLabel }) => (
              <option key={value} value={value}>
                {roleLabel}
              </option>
            ))}
          </select>
          <button type="submit" className="secondary" disabled={change.busy}>
            Change role
          </button>
          <Outcome error={change.error} message={change.message} />
        </form>
      )}
      {(manages || isMe) &&
        (confirming ? (
          <form onSubmit={remove.onSubmit} className="confirm">
            <button type="submit" className="danger" disabled={remove.busy}>
              {isMe ? 'Leave this home' : `Remove ${label} from this home`}
            </button>
            <button type="button" className="secondary" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <div className="actions">
            <button type="button" className="secondary" onClick={() => setConfirming(true)}>
              {isMe ? 'Leave…' : 'Remove…'}
            </button>
          </div>
        ))}
      <Outcome error={remove.error} message={null} />
    </li>
  );
}

function InvitationRow(props: { homeId: string; invitation: Invitation; onChanged: () => Promise<void> }) {
  const { homeId, invitation, onChanged } = props;
  const revoke = useSubmit(async () => {
    await api('DELETE', `/v1/homes/${homeId}/invitations/${invitation.id}`);
    await onChanged();
  });
  return (
    <li className="card person" aria-label={`Invitation to ${invitation.email}`}>
      <div>
        <h3 className="person-name">{invitation.email}</h3>
        <p className="meta">
          Invited as {roleName(invitation.role)} · valid until{' '}
          {new Date(invitation.expiresAt).toLocaleDateString()}
        </p>
      </div>
      <form onSubmit={revoke.onSubmit} className="actions">
        <button
          type="submit"
          className="secondary"
          disabled={revoke.busy}
          aria-label={`Revoke the invitation to ${invitation.email}`}
        >
          Revoke
        </button>
      </form>
      <Outcome error={revoke.error} message={null} />
    </li>
  );
}
