import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DATA_CATEGORY_IDS } from '../../src/incidents/categories.js';
import type { ResponseActionName } from '../../src/incidents/model.js';
import type { OutgoingMail } from '../../src/mail/transport.js';
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
});
