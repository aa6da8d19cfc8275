import type { LinkingPage } from '../../integrations/linking.js';
import { AUTHORIZATION_PARAMS, type AuthorizationRequest } from '../../integrations/oauth-server.js';
import { escapeHtml } from '../../mail/templates.js';

/**
 * The account-linking page, rendered on the server in the look of the other account pages (pages.css): no
 * script at all, so its policy allows none. Every value is escaped; nothing personal is in any URL.
 */

const PROVIDER_NAMES = { alexa: 'Amazon Alexa', google: 'Google Home', ifttt: 'IFTTT' } as const;

/** One HTML-escaped fragment; `html` joins them and escapes every interpolated value that is not one. */
class Html {
  constructor(readonly text: string) {}
}

function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    const parts = Array.isArray(value) ? value : [value];
    for (const part of parts) {
      if (part === undefined || part === null || part === false) continue;
      out += part instanceof Html ? part.text : escapeHtml(String(part));
    }
    out += strings[index + 1] ?? '';
  });
  return new Html(out);
}

function layout(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <!-- same-origin, not no-referrer: with no-referrer browsers post "Origin: null", which the route refuses. -->
  <meta name="referrer" content="same-origin">
  <title>${title} · Hearth</title>
  <link rel="stylesheet" href="/account-pages/pages.css">
</head>
<body>
  <header class="top"><span class="brand">Hearth</span></header>
  <main data-page="link-assistant">
${body}
  </main>
</body>
</html>
`.text;
}

/** The authorization request travels from step to step as hidden fields (nothing of it is secret). */
function requestFields(request: AuthorizationRequest, ticket?: string): Html {
  const fields = AUTHORIZATION_PARAMS.map(
    (name) => html`<input type="hidden" name="${name}" value="${request.params[name]}">`,
  );
  if (ticket) fields.push(html`<input type="hidden" name="ticket" value="${ticket}">`);
  return html`${fields}`;
}

function status(message: string | undefined, isError: boolean): Html {
  if (!message) return html``;
  return html`<p role="${isError ? 'alert' : 'status'}" class="${isError ? 'error' : ''}">${message}</p>`;
}

function heading(request: AuthorizationRequest): Html {
  const provider = PROVIDER_NAMES[request.client.kind];
  return html`<h1>Link ${provider} to Hearth</h1>
    <p>${request.client.name} asks to see and control devices of one of your homes.</p>`;
}

/** What the assistant will receive, said plainly on every step that leads to allowing. */
const RECEIVES = html`<p>It will receive the names, rooms and states of the devices you tick, and may switch and
  adjust them. It never receives your e-mail address, your name or any body measurement: a scale is never
  offered to an assistant.</p>`;

export interface RenderedPage {
  status: number;
  html: string;
}

export function renderLinkingPage(page: Exclude<LinkingPage, { kind: 'redirect' }>): RenderedPage {
  switch (page.kind) {
    case 'problem':
      return {
        status: page.status,
        html: layout(
          'Cannot link',
          html`<h1>This link request cannot go ahead</h1>
    <p role="alert" class="error">${page.message}</p>
    <p>Start linking again from the assistant's app. If it keeps happening, tell the assistant's maker.</p>`,
        ),
      };
    case 'sign-in':
      return {
        status: page.status,
        html: layout(
          'Sign in to link',
          html`${heading(page.request)}
    ${status(page.message, page.status >= 400)}
    <form method="post" action="/oauth/authorize">
      ${requestFields(page.request)}
      <input type="hidden" name="step" value="sign-in">
      <label for="email">E-mail address</label>
      <input id="email" name="email" type="email" autocomplete="email" required maxlength="254" value="${page.email ?? ''}">
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
      <label for="totpCode">${page.askCode ? 'Code from your authenticator app (or a recovery code)' : 'Code from your authenticator app, if you set up two-step verification'}</label>
      <input id="totpCode" name="totpCode" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="64" ${page.askCode ? new Html('required') : ''}>
      <button type="submit">Sign in</button>
    </form>
    ${RECEIVES}`,
        ),
      };
    case 'unverified':
      return {
        status: 403,
        html: layout(
          'Confirm your address first',
          html`${heading(page.request)}
    <p role="alert" class="error">Your e-mail address is not confirmed yet, and an unconfirmed account cannot link an
      assistant. Open the link in the e-mail we sent you when you signed up, then start linking again from the
      assistant's app.</p>`,
        ),
      };
    case 'no-homes':
      return {
        status: 409,
        html: layout(
          'No home to link',
          html`${heading(page.request)}
    <p role="alert" class="error">You have no home in Hearth yet. Create one and pair a device in the Hearth console,
      then start linking again from the assistant's app.</p>`,
        ),
      };
    case 'choose-home':
      return {
        status: 200,
        html: layout(
          'Choose a home',
          html`${heading(page.request)}
    <form method="post" action="/oauth/authorize">
      ${requestFields(page.request, page.ticket)}
      <input type="hidden" name="step" value="home">
      <fieldset>
        <legend>Which home may it see?</legend>
        ${page.homes.map(
          (home, index) =>
            html`<div class="choice"><input type="radio" id="home-${index}" name="homeId" value="${home.id}" required ${index === 0 ? new Html('checked') : ''}>
        <label for="home-${index}">${home.name}</label></div>`,
        )}
      </fieldset>
      <button type="submit">Continue</button>
    </form>`,
        ),
      };
    case 'consent':
      return {
        status: page.status,
        html: layout(
          'Allow access',
          html`${heading(page.request)}
    ${status(page.message, true)}
    <form method="post" action="/oauth/authorize">
      ${requestFields(page.request, page.ticket)}
      <input type="hidden" name="step" value="consent">
      <input type="hidden" name="homeId" value="${page.home.id}">
      <fieldset>
        <legend>Devices of ${page.home.name} it may see</legend>
        ${
          page.devices.length === 0
            ? html`<p>This home has no device an assistant can use yet; you can add some later from the console.</p>`
            : page.devices.map(
                (device, index) =>
                  html`<div class="choice"><input type="checkbox" id="device-${index}" name="deviceId" value="${device.id}" checked>
        <label for="device-${index}">${device.name}${device.room ? html` (${device.room})` : ''}</label></div>`,
              )
        }
      </fieldset>
      <div class="choice"><input type="checkbox" id="include-new-devices" name="includeNewDevices" value="yes"${page.includeNewDevices ? html` checked` : ''}>
        <label for="include-new-devices">Also show devices I pair later</label></div>
      ${RECEIVES}
      <p>You can change the devices and this choice, or unlink, at any time in the Hearth console.</p>
      <div class="actions">
        <button type="submit" name="decision" value="allow">Allow</button>
        <button type="submit" name="decision" value="deny" class="secondary" formnovalidate>Deny</button>
      </div>
    </form>`,
        ),
      };
  }
}
