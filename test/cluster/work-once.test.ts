import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildHttpServer } from '../../src/http/server.js';
import { actionLease } from '../../src/incidents/actions.js';
import { DATA_CATEGORY_IDS } from '../../src/incidents/categories.js';
import type { ResponseActionName } from '../../src/incidents/model.js';
import type { OutgoingMail } from '../../src/mail/transport.js';
import { Leases } from '../../src/store/leases.js';
import { type Cluster, type ClusterNode, startCluster, waitUntil } from '../helpers/cluster.js';
import { testDatabaseKind } from '../helpers/database.js';
import { createTestOperator } from '../helpers/operators.js';

/** Records which node sent what; each send takes a moment, so both workers are busy at once. */
class NodeTransport {
  constructor(
    readonly node: string,
    readonly sent: { node: string; mail: OutgoingMail }[],
  ) {}

  async send(mail: OutgoingMail): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.sent.push({ node: this.node, mail });
  }

  close(): void {}
}

describe.runIf(testDatabaseKind === 'postgres')('work that must run once runs once across nodes', () => {
  let cluster: Cluster;
  let A: ClusterNode;
  let B: ClusterNode;
  const sent: { node: string; mail: OutgoingMail }[] = [];

  beforeAll(async () => {
    cluster = await startCluster({
      databaseUrl: inject('postgresUrl'),
      nodes: [
        { name: 'A', ingest: true, mailTransport: new NodeTransport('A', sent) },
        { name: 'B', ingest: false, mailTransport: new NodeTransport('B', sent) },
      ],
    });
    A = cluster.node('A');
    B = cluster.node('B');
  });
  afterAll(() => cluster?.close());

  it('sends each queued mail exactly once while both nodes’ mail workers run', async () => {
    const count = 60;
    const ids = new Set<string>();
    for (let n = 0; n < count; n++) {
      const queued = await A.services.mail.outbox.enqueue({
        to: `person-${n}@example.test`,
        template: 'verify-email',
        data: { name: `Person ${n}`, link: `https://hearth.example/verify?token=hth_vfy_${n}` },
        idempotencyKey: `cluster-mail:${randomUUID()}`,
      });
      ids.add(queued.id);
    }
    A.services.mail.worker.start();
    B.services.mail.worker.start();
    try {
      await waitUntil(async () => sent.length >= count, 20_000);
      // Anything sent twice would arrive in the next few polls.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await Promise.all([A.services.mail.worker.stop(), B.services.mail.worker.stop()]);
    }

    const recipients = sent.map((entry) => entry.mail.to);
    expect(recipients).toHaveLength(count);
    expect(new Set(recipients).size).toBe(count);
    expect(new Set(sent.map((entry) => entry.mail.messageId)).size).toBe(count);
    // Both workers took part: the claims (FOR UPDATE SKIP LOCKED) split the queue between them.
    expect(sent.some((entry) => entry.node === 'A')).toBe(true);
    expect(sent.some((entry) => entry.node === 'B')).toBe(true);
    const rows = await A.services.database.db
      .selectFrom('mail_outbox')
      .select(['status', 'attempts'])
      .where('id', 'in', [...ids])
      .execute();
    expect(rows.every((row) => row.status === 'sent' && row.attempts === 1)).toBe(true);
  });

  it('runs an incident action started from two nodes at once only once', async () => {
    const operatorA = await createTestOperator(A.services, 'admin');
    const incident = await A.services.incidents.declare(
      {
        title: 'Cluster drill',
        description: 'A drill for two nodes.',
        detectedAt: new Date('2026-03-05T09:30:00Z'),
        windowFrom: new Date('2026-03-03T00:00:00Z'),
        windowTo: new Date('2026-03-04T23:00:00Z'),
        stores: ['database'],
        categories: [DATA_CATEGORY_IDS[0]],
        scope: { kind: 'everyone' },
      },
      operatorA.principal,
    );
    const action: ResponseActionName = 'end-sessions';
    const epoch = async () =>
      (await A.services.database.db.selectFrom('global_security').select('epoch').executeTakeFirstOrThrow())
        .epoch;
    const before = await epoch();
    const run = (node: ClusterNode) =>
      node.services.incidents
        .respond(incident.id, [{ action, params: { scope: 'everyone' } }], operatorA.principal)
        .then(
          (results) => ({ ok: true as const, results }),
          (error: { code?: string }) => ({ ok: false as const, code: error.code }),
        );

    const outcomes = await Promise.all([run(A), run(B)]);

    // One ran it; the other found it running elsewhere, or already done.
    for (const outcome of outcomes) {
      if (!outcome.ok) expect(outcome.code).toBe('action-running-elsewhere');
    }
    expect(outcomes.some((outcome) => outcome.ok)).toBe(true);
    expect(await epoch()).toBe(before + 1);
    const timeline = await A.services.database.db
      .selectFrom('incident_timeline')
      .select('kind')
      .where('incident_id', '=', incident.id)
      .where('kind', '=', 'action_started')
      .execute();
    expect(timeline).toHaveLength(1);
  });

  it('answers 409 action-running-elsewhere over the API, before accepting, while another node holds the action', async () => {
    const responder = await createTestOperator(A.services, 'responder');
    const incident = await A.services.incidents.declare(
      {
        title: 'Cluster lease drill',
        description: 'A drill for an action held on another node.',
        detectedAt: new Date('2026-03-05T09:30:00Z'),
        windowFrom: new Date('2026-03-03T00:00:00Z'),
        windowTo: new Date('2026-03-04T23:00:00Z'),
        stores: ['database'],
        categories: [DATA_CATEGORY_IDS[0]],
        scope: { kind: 'everyone' },
      },
      responder.principal,
    );
    const epoch = async () =>
      (await A.services.database.db.selectFrom('global_security').select('epoch').executeTakeFirstOrThrow())
        .epoch;
    const before = await epoch();
    const http = await buildHttpServer(B.services);
    await http.ready();
    const start = () =>
      http.inject({
        method: 'POST',
        url: `/v1/admin/incidents/${incident.id}/actions`,
        headers: responder.headers,
        payload: { actions: [{ action: 'end-sessions', params: { scope: 'everyone' } }] },
      });
    // Node A runs the action: it holds the action's lease in the shared database until released.
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = () => {};
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    const holder = new Leases(A.services.database.db).hold(actionLease(incident.id, 'end-sessions'), () => {
      holding();
      return released;
    });
    try {
      await held;
      const refused = await start();
      expect(refused.statusCode, refused.body).toBe(409);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = refused.json() as {
        type: string;
        detail: string;
        action: string;
        leaseExpiresAt: string;
      };
      expect(problem.type).toMatch(/action-running-elsewhere$/);
      expect(problem.action).toBe('end-sessions');
      expect(problem.detail).toMatch(/^Another node \(or a CLI process\) is running the action end-sessions/);
      expect(problem.detail).not.toMatch(/this node/);
      expect(problem.detail).toContain(`expires at ${problem.leaseExpiresAt}`);
      expect(new Date(problem.leaseExpiresAt).getTime()).toBeGreaterThan(Date.now());
      // Refused before anything started: nothing ran on B, nothing was recorded.
      expect(B.services.incidentJobs.isRunning(incident.id)).toBe(false);
      expect(await epoch()).toBe(before);

      release();
      await holder;
      const accepted = await start();
      expect(accepted.statusCode, accepted.body).toBe(202);
      await B.services.incidentJobs.idle();
      expect(await epoch()).toBe(before + 1);
    } finally {
      release();
      await holder;
      await http.close();
    }
  });
});
