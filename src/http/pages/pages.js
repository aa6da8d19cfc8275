// The accept-invitation page (verifying an address and resetting a password are console routes, in web/).
// The token arrives in the URL fragment, which browsers never send to a server; it is read here, removed
// from the address bar and history, and posted to the API.

const statusLine = document.getElementById('status');

function show(message, isError = false) {
  statusLine.textContent = message;
  statusLine.classList.toggle('error', isError);
}

function takeToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token) history.replaceState(null, '', location.pathname);
  return token;
}

/** An API refusal: its problem's detail as the message, with the status and problem type beside it. */
class Problem extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? 'Something went wrong; try again.');
    this.status = status;
    this.type = problem?.type;
  }
}

/**
 * Posts JSON, with an access token when one is given; resolves to the parsed body, or throws a Problem.
 * Cookies are never sent: the API authenticates by bearer token only.
 */
async function post(path, body, accessToken) {
  const headers = { 'content-type': 'application/json' };
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const response = await fetch(path, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    credentials: 'omit',
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not ours (a proxy's error page, say): the generic message below fits it.
  }
  if (!response.ok) throw new Problem(response.status, parsed);
  return parsed;
}

/** Ends the page's own session; a failure is harmless, since the token dies with the page anyway. */
async function logOut(accessToken) {
  try {
    await fetch('/v1/sessions/current', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${accessToken}` },
      credentials: 'omit',
    });
  } catch {
    // Offline: the access token expires on its own, and this page never kept the refresh token.
  }
}

/**
 * Accepting needs the invited person logged in, so the page logs in (asking for the second factor when the
 * account has one), accepts with the access token, then ends that session again: it is held only in this
 * function's memory, and its refresh token is never kept, so a session left open would serve nobody.
 */
function acceptInvitation() {
  const token = takeToken();
  if (!token) {
    show(
      'This page needs the link from your invitation e-mail. Open the link again, or ask for a new one.',
      true,
    );
    return;
  }
  // The console accepts with its own session; the token goes along in the fragment, never to a server.
  document.getElementById('console-accept-link').href =
    `/invitations/accept#token=${encodeURIComponent(token)}`;
  document.getElementById('console-accept').hidden = false;
  const form = document.getElementById('accept-form');
  const totpField = document.getElementById('totp-field');
  form.hidden = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    let accessToken;
    try {
      const credentials = { email: form.email.value, password: form.password.value };
      const code = form.totpCode.value.trim();
      if (!totpField.hidden && code) credentials.totpCode = code;
      try {
        ({ accessToken } = await post('/v1/sessions', credentials));
      } catch (error) {
        if (error.type !== '/problems/totp-required') throw error;
        totpField.hidden = false;
        form.totpCode.focus();
        show('This account has two-step verification: enter the code from your authenticator app.');
        return;
      }
      const home = await post('/v1/invitations/accept', { token }, accessToken);
      form.hidden = true;
      show(`You have joined the home "${home.name}" as ${home.role}. Sign in to the console to see it.`);
    } catch (error) {
      // Used, expired or withdrawn (410), or already a member (409): trying again cannot help. A wrong
      // account or an unverified address (403) can be put right, so the form stays.
      if (error.status === 409 || error.status === 410) form.hidden = true;
      show(error.message, true);
    } finally {
      if (accessToken) {
        await logOut(accessToken);
        // A retry (after verifying the address, or as another account) starts from a clean form.
        form.password.value = '';
        form.totpCode.value = '';
        totpField.hidden = true;
      }
      button.disabled = false;
    }
  });
}

const page = document.querySelector('main')?.dataset.page;
if (page === 'accept-invitation') acceptInvitation();
