// The verify-email and reset-password pages. The token arrives in the URL fragment, which browsers never
// send to a server; it is read here, removed from the address bar and history, and posted to the API.

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

/** Posts JSON; resolves to the parsed body, or throws with the problem's detail. */
async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'omit',
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(parsed?.detail ?? 'Something went wrong; try again.');
  return parsed;
}

async function verifyEmail() {
  const token = takeToken();
  if (!token) {
    show('This page needs the link from your e-mail. Open the link again, or ask for a new one.', true);
    return;
  }
  try {
    const { result } = await post('/v1/email-verifications', { token });
    show(
      result === 'email-changed'
        ? 'Your e-mail address has been changed. You can close this page.'
        : 'Your e-mail address is verified. You can close this page.',
    );
  } catch (error) {
    show(error.message, true);
  }
}

function resetPassword() {
  const token = takeToken();
  const requestForm = document.getElementById('request-form');
  const completeForm = document.getElementById('complete-form');
  const form = token ? completeForm : requestForm;
  form.hidden = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      if (token) {
        if (form.password.value !== form.confirm.value)
          throw new Error('The two passwords are not the same.');
        await post('/v1/password-resets/complete', { token, password: form.password.value });
        form.hidden = true;
        show('Your password has been changed and every session has been logged out. You can log in now.');
      } else {
        const { message } = await post('/v1/password-resets', { email: form.email.value });
        form.hidden = true;
        show(message);
      }
    } catch (error) {
      show(error.message, true);
    } finally {
      button.disabled = false;
    }
  });
}

const page = document.querySelector('main')?.dataset.page;
if (page === 'verify-email') verifyEmail();
if (page === 'reset-password') resetPassword();
