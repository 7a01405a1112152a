// Users and their roles: list, add, change role.
import { useState } from '../vendor/hooks.js';
import { api } from './api.js';
import { html } from './html.js';
import { act, ErrorLine, useLive } from './util.js';

const loadUsers = () => api('GET', 'users').then((r) => r.users);

export function Users({ me }) {
  const [users, loadError, reload] = useLive(loadUsers, ['user']);
  const [error, setError] = useState(null);
  const [login, setLogin] = useState('');
  const [role, setRole] = useState('member');
  const add = (e) => {
    e.preventDefault();
    act(() => api('POST', 'users', { login, role }), setError).then((r) => {
      if (r) setLogin('');
      reload();
    });
  };
  const setUserRole = (u, r) => act(() => api('PUT', `users/${encodeURIComponent(u.login)}`, { role: r }), setError).then(reload);
  return html`<section>
    <h2>Users</h2>
    <${ErrorLine} error=${loadError ?? error} />
    <table data-testid="users">
      <thead><tr><th>Login</th><th>Name</th><th>Role</th></tr></thead>
      <tbody>
        ${(users ?? []).map(
          (u) => html`<tr data-user=${u.login}>
            <td>${u.login}</td><td>${u.name}</td>
            <td><select value=${u.role} disabled=${u.login === me.login} onChange=${(e) => setUserRole(u, e.target.value)} aria-label=${`role of ${u.login}`}>
              <option value="admin">admin</option><option value="member">member</option>
            </select></td>
          </tr>`,
        )}
      </tbody>
    </table>
    <h3>Add a user</h3>
    <form class="inline" onSubmit=${add}>
      <input value=${login} onInput=${(e) => setLogin(e.target.value)} placeholder="user@example.com" required />
      <select value=${role} onChange=${(e) => setRole(e.target.value)}><option value="member">member</option><option value="admin">admin</option></select>
      <button type="submit">Add</button>
    </form>
  </section>`;
}
