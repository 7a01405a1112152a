// Machines: every node with its owner or tags, addresses, online state, last seen, OS, posture attributes
// and key expiry; delete, edit tags, and (where the node data has them) subnet routes. Members see only
// their own devices (GET /api/v1/me).
import { useState } from '../vendor/hooks.js';
import { api } from './api.js';
import { html } from './html.js';
import { act, ago, ErrorLine, left, useLive, useNow } from './util.js';

const loadNodes = () => api('GET', 'nodes').then((r) => r.nodes);
const loadMine = () => api('GET', 'me').then((r) => r.nodes);

function Posture({ attrs, now }) {
  const entries = Object.entries(attrs ?? {});
  if (entries.length === 0) return html`<span class="muted">—</span>`;
  return entries.map(
    ([k, v]) => html`<span class="pill" title=${v.expires ? `until ${new Date(v.expires).toISOString()}` : ''}>${k}=${String(v.value)}${v.expires ? ` (${left(v.expires, now)})` : ''}</span>`,
  );
}

function Routes({ n, onApprove }) {
  const advertised = n.advertisedRoutes ?? n.routes ?? [];
  const approved = new Set(n.approvedRoutes ?? n.routes ?? []);
  if (advertised.length === 0) return html`<span class="muted">—</span>`;
  return advertised.map(
    (r) => html`<span class="pill">${r}${approved.has(r) ? ' ✓' : html` <button class="small" onClick=${() => onApprove(r)}>approve</button>`}</span>`,
  );
}

function TagEditor({ n, done, setError }) {
  const [text, setText] = useState(n.tags.join(', '));
  const save = (e) => {
    e.preventDefault();
    const tags = text.split(/[\s,]+/).filter(Boolean);
    act(() => api('PUT', `nodes/${n.id}/tags`, { tags }), setError).then((r) => r && done());
  };
  return html`<form class="inline" onSubmit=${save}>
    <input value=${text} onInput=${(e) => setText(e.target.value)} data-testid="tags-input" placeholder="tag:a, tag:b" />
    <button type="submit">Save</button><button type="button" onClick=${done}>Cancel</button>
  </form>`;
}

function NodeTable({ nodes, admin, reload, setError }) {
  const now = useNow(1000);
  const [editing, setEditing] = useState(null);
  const remove = (n) => {
    if (confirm(`Delete ${n.name}? Its agent must register again.`)) act(() => api('DELETE', `nodes/${n.id}`), setError).then(reload);
  };
  const approve = (n, route) => act(() => api('POST', `nodes/${n.id}/routes`, { approve: [route] }), setError).then(reload);
  return html`<table data-testid="machines">
    <thead><tr><th>Name</th><th>Owner / tags</th><th>Addresses</th><th>Online</th><th>Last seen</th><th>OS</th><th>Posture</th><th>Routes</th><th>Key expiry</th>${admin ? html`<th></th>` : null}</tr></thead>
    <tbody>
      ${nodes.map(
        (n) => html`<tr data-node=${n.name}>
          <td><strong>${n.name}</strong>${n.ephemeral ? html` <span class="pill">ephemeral</span>` : null}</td>
          <td>${editing === n.id ? html`<${TagEditor} n=${n} setError=${setError} done=${() => { setEditing(null); reload(); }} />` : n.tags.length > 0 ? n.tags.map((t) => html`<span class="pill tag">${t}</span>`) : n.user}</td>
          <td class="mono">${n.addresses.join(' ')}</td>
          <td><span class=${n.online ? 'dot on' : 'dot'} data-testid="online">${n.online ? 'online' : 'offline'}</span></td>
          <td>${n.online ? 'now' : ago(n.lastSeen, now)}</td>
          <td>${n.os}${n.agentVersion ? html` <span class="muted">${n.agentVersion}</span>` : null}</td>
          <td><${Posture} attrs=${n.attrs} now=${now} /></td>
          <td><${Routes} n=${n} onApprove=${(r) => approve(n, r)} /></td>
          <td class=${n.expired ? 'error' : ''}>${n.keyExpiry === null ? 'never' : n.expired ? 'expired' : left(n.keyExpiry, now)}</td>
          ${admin
            ? html`<td class="actions">
                <button class="small" onClick=${() => setEditing(n.id)}>Edit tags</button>
                <button class="small danger" onClick=${() => remove(n)}>Delete</button>
              </td>`
            : null}
        </tr>`,
      )}
    </tbody>
  </table>`;
}

export function Machines() {
  const [nodes, loadError, reload] = useLive(loadNodes);
  const [error, setError] = useState(null);
  return html`<section>
    <h2>Machines</h2>
    <${ErrorLine} error=${loadError ?? error} />
    ${nodes === null ? html`<p class="loading">Loading…</p>` : nodes.length === 0 ? html`<p class="muted">No machines yet.</p>` : html`<${NodeTable} nodes=${nodes} admin=${true} reload=${reload} setError=${setError} />`}
  </section>`;
}

export function MyDevices() {
  const [nodes, loadError, reload] = useLive(loadMine);
  const [error, setError] = useState(null);
  return html`<section>
    <h2>My devices</h2>
    <${ErrorLine} error=${loadError ?? error} />
    ${nodes === null ? html`<p class="loading">Loading…</p>` : nodes.length === 0 ? html`<p class="muted">You have no devices yet.</p>` : html`<${NodeTable} nodes=${nodes} admin=${false} reload=${reload} setError=${setError} />`}
  </section>`;
}
