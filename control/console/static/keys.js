// Auth keys: list with state and use, create (the key is shown once), revoke.
import { useState } from '../vendor/hooks.js';
import { api } from './api.js';
import { html } from './html.js';
import { act, ago, ErrorLine, left, useLive, useNow } from './util.js';

const loadKeys = () => Promise.all([api('GET', 'keys'), api('GET', 'users')]).then(([k, u]) => ({ keys: k.keys, users: u.users }));

export function Keys() {
  const [data, loadError, reload] = useLive(loadKeys, ['key', 'user']);
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const [form, setForm] = useState({ user: '', reusable: false, ephemeral: false, tags: '', expiry: '1h' });
  const now = useNow(5000);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const create = (e) => {
    e.preventDefault();
    const body = { user: form.user || data.users[0]?.login, reusable: form.reusable, ephemeral: form.ephemeral, tags: form.tags.split(/[\s,]+/).filter(Boolean) };
    if (form.expiry) body.expiry = form.expiry;
    act(() => api('POST', 'keys', body), setError).then((r) => {
      if (r) setCreated(r);
      reload();
    });
  };
  const revoke = (k) => act(() => api('DELETE', `keys/${k.id}`), setError).then(reload);
  return html`<section>
    <h2>Auth keys</h2>
    <${ErrorLine} error=${loadError ?? error} />
    ${created ? html`<div class="notice" data-testid="new-key">New key <code>${created.key}</code> — copy it now; it is not shown again. <button class="small" onClick=${() => setCreated(null)}>Done</button></div>` : null}
    <form class="inline" onSubmit=${create}>
      <select value=${form.user} onChange=${set('user')} aria-label="user">${(data?.users ?? []).map((u) => html`<option value=${u.login}>${u.login}</option>`)}</select>
      <label><input type="checkbox" checked=${form.reusable} onChange=${set('reusable')} /> reusable</label>
      <label><input type="checkbox" checked=${form.ephemeral} onChange=${set('ephemeral')} /> ephemeral</label>
      <input value=${form.tags} onInput=${set('tags')} placeholder="tag:a, tag:b" />
      <input value=${form.expiry} onInput=${set('expiry')} placeholder="expiry, e.g. 1h" size="6" />
      <button type="submit">Create key</button>
    </form>
    <table data-testid="keys">
      <thead><tr><th>ID</th><th>User</th><th>Kind</th><th>Tags</th><th>Created</th><th>Expires</th><th>Uses</th><th>State</th><th></th></tr></thead>
      <tbody>
        ${(data?.keys ?? []).map(
          (k) => html`<tr data-key=${k.id}>
            <td class="mono">${k.id}</td><td>${k.user}</td>
            <td>${[k.reusable ? 'reusable' : 'one-off', k.ephemeral ? 'ephemeral' : ''].filter(Boolean).join(', ')}</td>
            <td>${k.tags.join(', ')}</td><td>${ago(k.created, now)}</td><td>${left(k.expires, now)}</td><td>${k.uses}</td>
            <td><span class=${`state ${k.state}`}>${k.state}</span></td>
            <td>${k.state === 'valid' ? html`<button class="small danger" onClick=${() => revoke(k)}>Revoke</button>` : null}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
