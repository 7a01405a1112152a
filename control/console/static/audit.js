// The audit log (admins): every change from any path — CLI, API, console, registration, expiry — newest
// first, filtered by actor or action; grows live.
import { useCallback, useState } from '../vendor/hooks.js';
import { api } from './api.js';
import { html } from './html.js';
import { ErrorLine, useLive } from './util.js';

const LIMIT = 500;

export function Audit() {
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const load = useCallback(() => {
    const q = new URLSearchParams({ limit: String(LIMIT) });
    if (actor) q.set('actor', actor);
    if (action) q.set('action', action);
    return api('GET', `audit?${q}`).then((r) => r.entries.slice().reverse());
  }, [actor, action]);
  const [entries, error] = useLive(load, ['audit']);
  return html`<section>
    <h2>Audit log</h2>
    <${ErrorLine} error=${error} />
    <form class="inline" onSubmit=${(e) => e.preventDefault()}>
      <input value=${actor} onChange=${(e) => setActor(e.target.value)} placeholder="actor (login)" aria-label="actor filter" />
      <input value=${action} onChange=${(e) => setAction(e.target.value)} placeholder="action, e.g. access.approve" aria-label="action filter" />
    </form>
    <table data-testid="audit">
      <thead><tr><th>Time</th><th>Actor</th><th>Via</th><th>Action</th><th>Target</th><th>Summary</th></tr></thead>
      <tbody>
        ${(entries ?? []).map(
          (e) => html`<tr data-action=${e.action}>
            <td class="mono">${new Date(e.time).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</td>
            <td>${e.actor}</td><td class="muted">${e.via}</td><td class="mono">${e.action}</td><td>${e.target}</td><td>${e.summary}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

export const pages = [['audit', 'Audit log', Audit, ['admin']]];
