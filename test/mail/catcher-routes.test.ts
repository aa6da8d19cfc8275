import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestHttp, parseJson, type TestHttp } from '../http/build.js';

const link = 'https://hearth.example/verify?token=hth_vfy_abc&next=%2Fhome';

describe('the caught-mail pages at /dev/mail', () => {
  let http: TestHttp;
  let messageId: number;
  beforeAll(async () => {
    http = await buildTestHttp();
    const { mail } = http.services;
    await mail.catcher?.start();
    for (const [n, name] of ['Ada', '<b>Grace</b>'].entries()) {
      await mail.outbox.enqueue({
        to: `person${n}@example.com`,
        template: 'verify-email',
        data: { name, link },
        idempotencyKey: `verify-email:${n}`,
      });
    }
    expect(await mail.worker.runOnce()).toMatchObject({ sent: 2 });
    const list = parseJson((await http.app.inject({ url: '/dev/mail/messages' })).body);
    messageId = (list.messages as { id: number }[])[1]?.id as number;
  });
  afterAll(async () => {
    await http.close();
  });

  it('lists caught mail as JSON, newest first, in pages', async () => {
    const first = await http.app.inject({ url: '/dev/mail/messages?limit=1' });
    expect(first.statusCode).toBe(200);
    const page = parseJson(first.body);
    expect(page.messages).toEqual([
      expect.objectContaining({ to: ['person1@example.com'], subject: 'Confirm your e-mail address' }),
    ]);
    const second = parseJson(
      (await http.app.inject({ url: `/dev/mail/messages?limit=1&before=${page.nextCursor}` })).body,
    );
    expect(second).toEqual({
      messages: [expect.objectContaining({ to: ['person0@example.com'] })],
      nextCursor: null,
    });
  });

  it('shows one message with its links', async () => {
    const response = await http.app.inject({ url: `/dev/mail/messages/${messageId}` });
    expect(response.statusCode).toBe(200);
    const message = parseJson(response.body);
    expect(message).toMatchObject({ to: ['person0@example.com'], links: [link] });
    expect(message.messageId).toMatch(/^<[0-9a-f-]{36}@hearth\.localhost>$/);
  });

  it('serves an HTML inbox whose links can be clicked, with no script allowed', async () => {
    const inbox = await http.app.inject({ url: '/dev/mail' });
    expect(inbox.statusCode).toBe(200);
    expect(inbox.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(inbox.body).toContain(`<a href="/dev/mail/${messageId}">Confirm your e-mail address</a>`);
    const csp = String(inbox.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('script-src');

    const page = await http.app.inject({ url: `/dev/mail/${messageId}` });
    expect(page.body).toContain(`<a href="${link.replace('&', '&amp;')}">`);
    expect(page.body).not.toContain('<script');

    const second = parseJson((await http.app.inject({ url: '/dev/mail/messages?limit=1' })).body);
    const escaped = await http.app.inject({
      url: `/dev/mail/${(second.messages as { id: number }[])[0]?.id}/html`,
    });
    expect(escaped.body).toContain('Hello &lt;b&gt;Grace&lt;/b&gt;,');
    expect(String(escaped.headers['content-security-policy'])).toContain('sandbox');
  });

  it.each([
    ['a client on another machine', { remoteAddress: '203.0.113.5' }],
    ['a request forwarded by a local proxy', { headers: { 'x-forwarded-for': '203.0.113.5' } }],
    ['a foreign Host name (DNS rebinding)', { headers: { host: 'attacker.example:8080' } }],
  ])('answers 403 to %s', async (_, request) => {
    for (const url of ['/dev/mail', '/dev/mail/messages', `/dev/mail/messages/${messageId}`]) {
      const response = await http.app.inject({ url, ...request });
      expect(response.statusCode).toBe(403);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body).not.toContain('example.com');
    }
  });

  it('answers problems for an unknown message or a bad page size', async () => {
    const missing = await http.app.inject({ url: '/dev/mail/messages/9999' });
    expect(missing.statusCode).toBe(404);
    expect(parseJson(missing.body).detail).toMatch(/No caught message/);
    const bad = await http.app.inject({ url: '/dev/mail/messages?limit=1000' });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('with an SMTP relay configured', () => {
  it('has no catcher and no /dev/mail', async () => {
    const http = await buildTestHttp({ services: { env: { SMTP_URL: 'smtp://relay.example:587' } } });
    try {
      expect(http.services.mail.catcher).toBeNull();
      expect((await http.app.inject({ url: '/dev/mail' })).statusCode).toBe(404);
    } finally {
      await http.close();
    }
  });
});
