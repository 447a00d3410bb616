// The "Notifications" sheet of the room list: turns Web Push on or off for this browser, and
// whether notifications may show the message text (off by default: a locked phone's screen is
// not private).
import { h } from '../dom.js';
import { pushSupported } from '../push.js';

export function notificationsForm(app, { onClose }) {
  const prefs = app.pushPrefs();
  const status = h('p', { class: 'hint', id: 'notify-status' },
    !pushSupported() ? 'This browser cannot receive push notifications on this page (it needs HTTPS or localhost).'
      : prefs.enabled ? 'Notifications are on for this browser.'
        : 'Get a notification when a room has new messages while this page is closed or asleep.');
  const error = h('p', { class: 'error', role: 'alert' });
  const includeBody = h('input', { type: 'checkbox', name: 'include-body', checked: prefs.includeBody });
  const toggle = h('button', { class: 'primary', type: 'submit', id: 'notify-toggle', disabled: !pushSupported() },
    prefs.enabled ? 'Turn off' : 'Turn on');
  const form = h('form', { class: 'form', id: 'notify-form', dataset: { enabled: String(prefs.enabled) } },
    h('h3', {}, 'Notifications'),
    status,
    h('label', { class: 'check' }, includeBody, 'Show the message text in notifications'),
    error,
    h('div', { class: 'row' },
      h('button', { class: 'secondary', type: 'button', onclick: onClose }, 'Close'),
      toggle));
  // While on, changing the text setting re-registers instead of turning off.
  const changing = () => prefs.enabled && includeBody.checked !== prefs.includeBody;
  includeBody.addEventListener('change', () => {
    toggle.textContent = changing() ? 'Save' : prefs.enabled ? 'Turn off' : 'Turn on';
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const on = changing() || !app.pushPrefs().enabled;
    toggle.disabled = true;
    error.textContent = '';
    try {
      await app.setNotifications(on, includeBody.checked);
      onClose();
    } catch (err) {
      error.textContent = err?.message ?? String(err);
      toggle.disabled = false;
    }
  });
  return form;
}
