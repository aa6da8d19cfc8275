import formBody from '@fastify/formbody';
import type { FastifyError, FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Services } from '../../app.js';
import type { Form, LinkingPage } from '../../integrations/linking.js';
import { clientOf } from '../auth.js';
import { renderLinkingPage } from '../pages/oauth-authorize.js';
import { toProblem } from '../problem.js';

/**
 * The page's policy: no script at all, styles from our own file, forms posted only to this page — and, since
 * browsers apply form-action to the redirect that follows a post, to the assistant's registered return
 * address.
 */
function contentSecurityPolicy(redirectOrigin?: string): string {
  return [
    "default-src 'none'",
    "style-src 'self'",
    "base-uri 'none'",
    `form-action 'self'${redirectOrigin ? ` ${redirectOrigin}` : ''}`,
    "frame-ancestors 'none'",
  ].join('; ');
}

function answer(reply: FastifyReply, page: LinkingPage) {
  if (page.kind === 'redirect') {
    return reply.header('content-security-policy', contentSecurityPolicy()).redirect(page.location, 302);
  }
  const origin = 'request' in page ? new URL(page.request.params.redirect_uri).origin : undefined;
  const { status, html } = renderLinkingPage(page);
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', contentSecurityPolicy(origin))
    .send(html);
}

/**
 * GET/POST /oauth/authorize: where an assistant sends the person to link their account. The page's steps
 * are the integrations domain's (AccountLinking); this only parses the form and renders the outcome.
 */
export const oauthAuthorizeRoutes: FastifyPluginAsync<
  Pick<Services, 'accountLinking'> & { publicUrl: string }
> = async (app, { accountLinking, publicUrl }) => {
  const publicOrigin = new URL(publicUrl).origin;
  await app.register(formBody);

  // A person reads this address in a browser: what is refused before the page's steps (a NUL, a wrong
  // media type, a body too large) is a page too, not a problem document.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toProblem(error, request);
    if (problem.status >= 500) throw error;
    request.log.info({ status: problem.status, errorCode: error.code }, 'request refused');
    const message = problem.detail.replace(/; see errors\.$/, '.');
    return answer(reply, { kind: 'problem', status: problem.status, message });
  });

  app.get(
    '/oauth/authorize',
    { config: { access: 'public' }, schema: { hide: true } },
    async (request, reply) => answer(reply, await accountLinking.begin(request.query as Form)),
  );

  app.post(
    '/oauth/authorize',
    { config: { access: 'public' }, schema: { hide: true } },
    async (request, reply) => {
      // Every form of the page is posted from the page itself. A post from another site is refused before
      // it can sign anyone in (login CSRF); later steps also need the hidden ticket no other site can know.
      const origin = request.headers.origin;
      const sameSite = origin === publicOrigin || origin === `${request.protocol}://${request.host}`;
      if (origin !== undefined && !sameSite) {
        return answer(reply, {
          kind: 'problem',
          status: 403,
          message: 'This form was sent from another site. Start linking again from the assistant’s app.',
        });
      }
      return answer(reply, await accountLinking.submit((request.body ?? {}) as Form, clientOf(request)));
    },
  );
};
