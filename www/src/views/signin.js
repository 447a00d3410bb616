// The sign-in form: server (WebSocket URL, defaulting to /ws on this origin), JID, and a
// password or a token (what an app's backend would mint for its signed-in user; for the
// demo, `mucsub-server token mint alice --config data/config.toml`).
import { h, replaceChildren } from '../dom.js';

export function renderSignIn(pane, { defaults, error, onSubmit }) {
  const errorEl = h('p', { class: 'error', id: 'signin-error', role: 'alert' }, error ?? '');
  const submit = h('button', { class: 'primary', type: 'submit', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'form', id: 'signin-form', autocomplete: 'on' },
    h('label', {}, 'Server',
      h('input', { name: 'url', type: 'url', required: true, value: defaults.url,
        autocomplete: 'off', spellcheck: 'false', inputmode: 'url' })),
    h('label', {}, 'Address (JID)',
      h('input', { name: 'jid', type: 'text', required: true, value: defaults.jid ?? '',
        placeholder: 'alice@localhost', autocomplete: 'username', autocapitalize: 'none',
        spellcheck: 'false', inputmode: 'email' })),
    h('label', {}, 'Sign in with',
      h('select', { name: 'method', id: 'signin-method' },
        h('option', { value: 'password' }, 'Password'),
        h('option', { value: 'token' }, 'Token from your app'))),
    h('label', { id: 'signin-secret-label' }, 'Password',
      h('input', { name: 'password', type: 'password', required: true,
        autocomplete: 'current-password' })),
    errorEl,
    submit,
    h('p', { class: 'hint' }, 'Your rooms and messages are kept on this device, so you can read them offline.'));

  const method = form.elements.method;
  const secretLabel = form.querySelector('#signin-secret-label');
  method.value = defaults.method ?? 'password';
  const showMethod = () => {
    const token = method.value === 'token';
    secretLabel.firstChild.textContent = token ? 'Token' : 'Password';
    form.elements.password.autocomplete = token ? 'off' : 'current-password';
  };
  method.addEventListener('change', showMethod);
  showMethod();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const jid = String(data.get('jid')).trim();
    if (!/^[^@/\s]+@[^@/\s]+$/.test(jid)) {
      errorEl.textContent = 'Enter a bare address like alice@localhost.';
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    errorEl.textContent = '';
    try {
      const url = String(data.get('url')).trim();
      const secret = String(data.get('password'));
      await onSubmit(method.value === 'token' ? { url, jid, token: secret.trim() } : { url, jid, password: secret });
    } catch (err) {
      errorEl.textContent = err?.message ?? String(err);
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });

  replaceChildren(pane,
    h('div', { class: 'signin-card' },
      h('h1', {}, 'MucSub chat'),
      h('p', { class: 'tagline' }, 'Group chat that keeps up while your phone sleeps.'),
      form));
  const first = defaults.jid ? form.elements.password : form.elements.jid;
  first.focus();
}
