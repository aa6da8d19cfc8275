/**
 * The one list of addresses a caller may reach without credentials. A route that declares
 * `access: 'public'` but is not matched here stops start-up, so opening an address to the world is always
 * a visible change to this file. An entry ending in `*` matches every path that starts with the rest.
 * HEAD is allowed wherever GET is.
 */
export const PUBLIC_ROUTES: readonly string[] = [
  'GET /healthz',
  'GET /openapi.json',
  'GET /docs*',
  // Becoming a user, proving an address, getting back in.
  'POST /v1/accounts',
  'POST /v1/email-verifications',
  'POST /v1/password-resets',
  'POST /v1/password-resets/complete',
  'POST /v1/sessions',
  'POST /v1/sessions/refresh',
  // The console's log-in and refresh: same-origin only, the refresh token in an HttpOnly cookie.
  'POST /v1/console/sessions',
  'POST /v1/console/sessions/refresh',
  // Operators log in with e-mail, password and a TOTP code; every other /v1/admin route needs the session.
  'POST /v1/admin/sessions',
  // The console (web/): its page and hashed assets. Its own routes, such as /verify-email and
  // /reset-password that mailed links open, are answered with the same page (routes/console.ts).
  'GET /',
  'GET /assets/*',
  // The invitation page a mailed link opens; it reads the token from the fragment and calls the routes
  // above (then accepts with the access token its log-in got).
  'GET /accept-invitation',
  'GET /account-pages/*',
  // Assistants: each authenticates on its own terms, with the grant's token (inside Alexa's envelope,
  // or a bearer token) or IFTTT's service key; see routes/assistants.ts.
  'POST /v1/alexa/directives',
  'POST /v1/google/fulfillment',
  'GET /ifttt/v1/*',
  'POST /ifttt/v1/*',
  'DELETE /ifttt/v1/*',
  // OAuth account linking for Alexa, Google Home and IFTTT: the sign-in and consent page, and the
  // endpoints the assistants call with their client credentials (RFC 6749, 7009, 8414).
  'GET /oauth/authorize',
  'POST /oauth/authorize',
  'POST /oauth/token',
  'POST /oauth/revoke',
  'GET /.well-known/oauth-authorization-server',
  // The built-in mail catcher's pages; registered only when no SMTP relay is configured, loopback only.
  'GET /dev/mail*',
];

export function isListedPublic(
  method: string,
  url: string,
  list: readonly string[] = PUBLIC_ROUTES,
): boolean {
  const wanted = method === 'HEAD' ? 'GET' : method;
  return list.some((entry) => {
    const [entryMethod, pattern = ''] = entry.split(' ');
    if (entryMethod !== wanted) return false;
    return pattern.endsWith('*') ? url.startsWith(pattern.slice(0, -1)) : url === pattern;
  });
}
