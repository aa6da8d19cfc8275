import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CaughtMail, MailCatcher } from '../../mail/catcher.js';
import { HttpProblem, problemResponse } from '../problem.js';

export interface MailCatcherRouteOptions {
  /** Registered only when the services have one (no SMTP relay configured). */
  catcher: MailCatcher;
  /** PUBLIC_URL, whose host is accepted besides the loopback names. */
  publicUrl: string;
}

/** Inline styles only: the pages run no script at all. */
const PAGE_CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'];

function isLoopback(address: string): boolean {
  const ip = address.replace(/^::ffff:/, '');
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

function hostName(host: string): string {
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
}

/**
 * Caught mail holds sign-in links, so only this machine may read it. A request forwarded by a proxy is
 * refused even from loopback (the proxy would make everyone look local), and so is a foreign Host name
 * (a DNS-rebinding page in the developer's browser would otherwise read the links).
 */
function localOnly(publicUrl: string) {
  const allowedHosts = new Set(['localhost', '127.0.0.1', '[::1]', new URL(publicUrl).hostname]);
  return async (request: FastifyRequest) => {
    const forwarded = FORWARDING_HEADERS.some((header) => request.headers[header] !== undefined);
    const host = hostName(request.headers.host ?? '').toLowerCase();
    if (!isLoopback(request.ip) || forwarded || !(allowedHosts.has(host) || isLoopback(host))) {
      throw new HttpProblem(403, 'Caught mail can only be read from the machine the service runs on.');
    }
  };
}

const summarySchema = z.object({
  id: z.number().int(),
  from: z.string(),
  to: z.array(z.string()),
  subject: z.string(),
  receivedAt: z.iso.datetime(),
});

const messageSchema = summarySchema.extend({
  messageId: z.string().nullable(),
  text: z.string(),
  html: z.string().nullable(),
  links: z.array(z.string()).describe('The http(s) links of the plain-text body, in order.'),
});

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z.coerce.number().int().positive().optional().describe('nextCursor of the previous page'),
});

const idParams = z.object({ id: z.coerce.number().int().positive() });

const LINK = /https?:\/\/[^\s<>"')]+/g;

function summary(mail: CaughtMail): z.infer<typeof summarySchema> {
  return {
    id: mail.id,
    from: mail.from,
    to: mail.to,
    subject: mail.subject,
    receivedAt: mail.receivedAt.toISOString(),
  };
}

function found(catcher: MailCatcher, id: number): CaughtMail {
  const mail = catcher.get(id);
  if (!mail) throw new HttpProblem(404, 'No caught message has this id; older ones are dropped.');
  return mail;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escape = (text: string) => text.replace(/[&<>"']/g, (char) => ESCAPES[char] as string);

/** The plain-text body, escaped, with its links clickable. */
function linkified(text: string): string {
  let html = '';
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    html += escape(text.slice(last, match.index));
    html += `<a href="${escape(match[0])}">${escape(match[0])}</a>`;
    last = match.index + match[0].length;
  }
  return html + escape(text.slice(last));
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}
pre{white-space:pre-wrap;background:#f6f5f2;padding:1rem;border-radius:6px}.muted{color:#777}</style>
</head><body>${body}</body></html>`;
}

function sendPage(reply: FastifyReply, html: string, policy = PAGE_CONTENT_SECURITY_POLICY) {
  return reply.type('text/html; charset=utf-8').header('content-security-policy', policy).send(html);
}

/** The built-in mail catcher's inbox: an HTML page for people and JSON for scripts. Development only. */
export const mailCatcherRoutes: FastifyPluginAsyncZod<MailCatcherRouteOptions> = async (
  app,
  { catcher, publicUrl },
) => {
  app.addHook('onRequest', localOnly(publicUrl));
  const common = { config: { access: 'public' as const } };

  app.get(
    '/dev/mail/messages',
    {
      ...common,
      schema: {
        hide: true,
        querystring: listQuery,
        response: {
          200: z.object({ messages: z.array(summarySchema), nextCursor: z.number().int().nullable() }),
          403: problemResponse('Not from this machine.'),
        },
      },
    },
    async (request) => {
      const { messages, nextCursor } = catcher.list(request.query);
      return { messages: messages.map(summary), nextCursor };
    },
  );

  app.get(
    '/dev/mail/messages/:id',
    {
      ...common,
      schema: {
        hide: true,
        params: idParams,
        response: { 200: messageSchema, 404: problemResponse('No such message.') },
      },
    },
    async (request) => {
      const mail = found(catcher, request.params.id);
      return {
        ...summary(mail),
        messageId: mail.messageId,
        text: mail.text,
        html: mail.html,
        links: [...mail.text.matchAll(LINK)].map((match) => match[0]),
      };
    },
  );

  app.get(
    '/dev/mail',
    { ...common, schema: { hide: true, querystring: listQuery } },
    async (request, reply) => {
      const { messages, nextCursor } = catcher.list(request.query);
      const rows = messages
        .map(
          (mail) =>
            `<tr><td class="muted">${escape(mail.receivedAt.toISOString())}</td><td>${escape(mail.to.join(', '))}</td>` +
            `<td><a href="/dev/mail/${mail.id}">${escape(mail.subject || '(no subject)')}</a></td></tr>`,
        )
        .join('');
      const older = nextCursor ? `<p><a href="/dev/mail?before=${nextCursor}">Older messages</a></p>` : '';
      const body = messages.length
        ? `<table><tr><th>Received</th><th>To</th><th>Subject</th></tr>${rows}</table>${older}`
        : '<p class="muted">No mail yet. Mail Hearth sends appears here; reload the page to see new messages.</p>';
      return sendPage(
        reply,
        page(
          'Caught mail',
          `<h1>Caught mail</h1><p class="muted">Newest first; kept in memory only.</p>${body}`,
        ),
      );
    },
  );

  app.get(
    '/dev/mail/:id',
    { ...common, schema: { hide: true, params: idParams } },
    async (request, reply) => {
      const mail = found(catcher, request.params.id);
      const html = mail.html ? ` · <a href="/dev/mail/${mail.id}/html">HTML version</a>` : '';
      return sendPage(
        reply,
        page(
          mail.subject,
          `<p><a href="/dev/mail">All mail</a>${html}</p><h1>${escape(mail.subject)}</h1>` +
            `<p class="muted">From ${escape(mail.from)} to ${escape(mail.to.join(', '))}, ` +
            `${escape(mail.receivedAt.toISOString())}</p><pre>${linkified(mail.text)}</pre>`,
        ),
      );
    },
  );

  app.get(
    '/dev/mail/:id/html',
    { ...common, schema: { hide: true, params: idParams } },
    async (request, reply) => {
      const mail = found(catcher, request.params.id);
      if (!mail.html) throw new HttpProblem(404, 'This message has no HTML version.');
      // Shown as the recipient's mail program would, but with no scripts, no remote content and no forms.
      return sendPage(
        reply,
        mail.html,
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation",
      );
    },
  );
};
