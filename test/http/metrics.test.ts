import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/index.js';
import type { Telemetry } from '../../src/devices/telemetry.js';
import { MailTransportError } from '../../src/mail/transport.js';
import { message, seedDevice, seedHome } from '../devices/telemetry-fixtures.js';
import { createUser, signUpAndLogIn } from '../helpers/accounts.js';
import { CapturingTransport } from '../helpers/mail.js';
import { createTestOperator } from '../helpers/operators.js';
import { buildTestHttp, type TestHttp } from './build.js';
import { familiesOf, parseExposition, type Sample, valueOf } from './metrics-scrape.js';

const FAMILIES = [
  'hearth_http_requests_total',
  'hearth_http_request_duration_seconds',
  'hearth_login_failures_total',
  'hearth_rate_limit_refusals_total',
  'hearth_ingest_messages_total',
  'hearth_ingest_written_total',
  'hearth_ingest_rejected_total',
  'hearth_ingest_queue_depth',
  'hearth_ingest_commit_duration_seconds',
  'hearth_command_round_trip_seconds',
  'hearth_devices_connected',
  'hearth_mail_outbox_messages',
  'hearth_mail_deliveries_total',
  'hearth_dek_cache_lookups_total',
  'hearth_incident_actions',
  'hearth_incident_action_items',
];

const USER_AGENT = 'MetricsTestBrowser/1.0 (secret-agent-7f3a)';

describe('GET /metrics', () => {
  let http: TestHttp;
  const transport = new CapturingTransport();
  const telemetry: { current?: Telemetry } = {};
  // A device that acks every command through the ingest pipeline, as a real one does over MQTT.
  const broker: Broker = {
    start: async () => {},
    stop: async () => {},
    deviceUrl: () => 'mqtt://broker.test:1883',
    provision: async () => {},
    revoke: async () => {},
    dropConnections: async () => {},
    connectedDeviceIds: () => [],
    sendCommand: async (deviceId, command) => {
      const ack = { id: command.id, ok: true, state: command.params };
      setTimeout(() => telemetry.current?.ingest.accept(message(deviceId, 'acks', ack)), 10);
    },
  };

  beforeAll(async () => {
    http = await buildTestHttp({
      services: {
        broker,
        mailTransport: transport,
        env: { HEARTH_INGEST_FLUSH_MS: '5', HEARTH_COMMAND_TIMEOUT_MS: '5000' },
      },
    });
    telemetry.current = http.services.telemetry;
  });
  afterAll(() => http?.close());

  async function scrape(): Promise<{ text: string; samples: Sample[] }> {
    const response = await http.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return { text: response.body, samples: parseExposition(response.body) };
  }

  it('moves each family with its activity, and no label carries an id, address or user agent', async () => {
    const before = (await scrape()).samples;
    const seen: string[] = [USER_AGENT];

    // Log-ins: a right one, wrong ones, then the account's limit refuses.
    const person = await signUpAndLogIn(http, { verify: true });
    seen.push(person.id, person.email, person.ip, person.sessionId);
    const victim = await createUser(http.services);
    seen.push(victim.id, victim.email);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const ip = `198.51.100.${attempt + 10}`;
      seen.push(ip);
      const response = await http.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        remoteAddress: ip,
        headers: { 'user-agent': USER_AGENT },
        payload: { email: victim.email, password: 'not the password at all' },
      });
      statuses.push(response.statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);

    // A device: state ingested, a message rejected, a command acknowledged.
    const homeId = await seedHome(http.services, person.id);
    const bulb = await seedDevice(http.services, homeId, 'bulb');
    seen.push(homeId, bulb);
    const ingest = http.services.telemetry.ingest;
    ingest.accept(message(bulb, 'state', { brightness: 20 }));
    ingest.accept(message(bulb, 'state', 'not json {'));
    // What the queue-depth gauge reads: the state report waits for its batch.
    expect(ingest.stats().queued).toBe(1);
    await ingest.flush();
    const command = await http.app.inject({
      method: 'POST',
      url: `/v1/devices/${bulb}/commands`,
      headers: person.headers,
      payload: { name: 'set-brightness', params: { brightness: 35 } },
    });
    expect(command.statusCode, command.body).toBe(200);
    const commandId = command.json().id as string;
    seen.push(commandId);
    const read = await http.app.inject({
      method: 'GET',
      url: `/v1/devices/${bulb}/commands/${commandId}`,
      headers: { ...person.headers, 'user-agent': USER_AGENT },
    });
    expect(read.statusCode).toBe(200);

    // Mail: the sign-up's verification mail was queued; the relay refuses the next for good.
    transport.failNext(new MailTransportError('mailbox unavailable', { responseCode: 550, permanent: true }));
    await http.services.mail.worker.runOnce();

    // Incident response: an action that ends every affected person's sessions.
    const responder = await createTestOperator(http.services, 'responder');
    const admin = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
      http.app.inject({ method, url, headers: responder.headers, ...(payload ? { payload } : {}) });
    const declared = await admin('POST', '/v1/admin/incidents', {
      title: 'Copy readable',
      description: 'A copy of the customer table was readable.',
      detectedAt: new Date().toISOString(),
      windowFrom: '2025-12-01T00:00:00Z',
      windowTo: new Date().toISOString(),
      stores: ['analytics copy'],
      categories: ['name', 'email'],
      scope: { kind: 'everyone' },
    });
    expect(declared.statusCode, declared.body).toBe(201);
    const incidentId = declared.json().id as string;
    seen.push(incidentId);
    expect((await admin('POST', `/v1/admin/incidents/${incidentId}/resolve`)).statusCode).toBe(200);
    const started = await admin('POST', `/v1/admin/incidents/${incidentId}/actions`, {
      actions: [{ action: 'end-sessions' }],
    });
    expect(started.statusCode, started.body).toBe(202);
    await http.services.incidentJobs.idle();

    const { text, samples: after } = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}) =>
      valueOf(after, name, labels) - valueOf(before, name, labels);

    expect(familiesOf(text)).toEqual(expect.arrayContaining(FAMILIES));
    expect(
      moved('hearth_http_requests_total', { method: 'POST', route: '/v1/sessions', status: '401' }),
    ).toBe(5);
    expect(
      moved('hearth_http_requests_total', { method: 'POST', route: '/v1/sessions', status: '429' }),
    ).toBe(1);
    expect(
      moved('hearth_http_requests_total', {
        method: 'GET',
        route: '/v1/devices/:deviceId/commands/:commandId',
        status: '200',
      }),
    ).toBe(1);
    expect(moved('hearth_login_failures_total', { reason: 'password' })).toBe(5);
    expect(moved('hearth_rate_limit_refusals_total', { rule: 'login-account' })).toBe(1);
    // The state report, and the command's ack.
    expect(moved('hearth_ingest_messages_total')).toBe(2);
    expect(moved('hearth_ingest_written_total')).toBe(2);
    expect(moved('hearth_ingest_rejected_total', { reason: 'not-json' })).toBe(1);
    expect(valueOf(after, 'hearth_ingest_queue_depth')).toBe(0);
    expect(moved('hearth_ingest_commit_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(moved('hearth_command_round_trip_seconds_count', { outcome: 'acknowledged' })).toBe(1);
    expect(valueOf(after, 'hearth_devices_connected')).toBe(1);
    expect(moved('hearth_mail_deliveries_total', { outcome: 'failed' })).toBe(1);
    expect(valueOf(after, 'hearth_mail_outbox_messages', { status: 'failed' })).toBe(1);
    expect(moved('hearth_dek_cache_lookups_total', { result: 'hit' })).toBeGreaterThan(0);
    expect(valueOf(after, 'hearth_incident_actions', { action: 'end-sessions', status: 'done' })).toBe(1);
    expect(
      valueOf(after, 'hearth_incident_action_items', {
        action: 'end-sessions',
        status: 'done',
        count: 'done',
      }),
    ).toBeGreaterThanOrEqual(2);

    const labelValues = after.flatMap((sample) => Object.values(sample.labels));
    for (const value of seen) {
      expect(labelValues.filter((label) => label.toLowerCase().includes(value.toLowerCase()))).toEqual([]);
    }
    // Every route label is a template or the one word for addresses no route matched.
    const routes = new Set(after.flatMap((sample) => (sample.labels.route ? [sample.labels.route] : [])));
    for (const route of routes) expect(route === 'unmatched' || route.startsWith('/')).toBe(true);
    expect([...routes].filter((route) => /[0-9a-f]{8}-[0-9a-f]{4}/i.test(route))).toEqual([]);
  });

  it('counts addresses no route matches under one label, not their URL', async () => {
    const before = parseExposition((await http.app.inject({ url: '/metrics' })).body);
    const probe = await http.app.inject({ url: '/v1/no-such-thing/0190a6f1-7c3e-7d2a-9b1c-2f4e5d6a7b8c' });
    expect(probe.statusCode).toBe(404);
    await sleep(0);
    const after = parseExposition((await http.app.inject({ url: '/metrics' })).body);
    const unmatched = { method: 'GET', route: 'unmatched', status: '404' };
    expect(valueOf(after, 'hearth_http_requests_total', unmatched)).toBe(
      valueOf(before, 'hearth_http_requests_total', unmatched) + 1,
    );
  });
});
