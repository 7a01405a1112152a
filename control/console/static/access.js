// Access requests: ask for a custom attribute for a while with a reason (on one device or all of yours),
// and, for approvers and admins, approve or deny; admins revoke approved access early; the requester may
// cancel a pending one. Time left counts down live. The server decides every permission (nobody approves
// their own request; only the attribute's approvers or admins approve); the buttons only offer them.
import { useState } from '../vendor/hooks.js';
import { api } from './api.js';
import { html } from './html.js';
import { act, ago, ErrorLine, left, useLive, useNow } from './util.js';

const STATES = ['', 'pending', 'approved', 'denied', 'cancelled', 'expired', 'ended', 'revoked'];

const loadAll = (state) => () =>
  Promise.all([api('GET', `access/requests${state ? `?state=${state}` : ''}`), api('GET', 'access/approvers'), api('GET', 'me')]).then(([r, a, me]) => ({
    requests: r.requests,
    configs: a.approvers,
    devices: me.nodes,
  }));
const loaders = new Map(STATES.map((s) => [s, loadAll(s)]));

function RequestForm({ configs, devices, setError, done }) {
  const [f, setF] = useState({ attr: '', value: 'true', for: '1h', reason: '', node: '' });
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const submit = (e) => {
    e.preventDefault();
    let value = f.value;
    try {
      const v = JSON.parse(f.value);
      if (['string', 'number', 'boolean'].includes(typeof v)) value = v;
    } catch {
      // plain text value
    }
    const body = { attr: f.attr || configs[0]?.attr, value, for: f.for, reason: f.reason };
    if (f.node) body.node = f.node;
    act(() => api('POST', 'access/requests', body), setError).then((r) => {
      if (r) setF({ ...f, reason: '' });
      done();
    });
  };
  return html`<form class="inline" onSubmit=${submit} data-testid="request-form">
    <input list="access-attrs" value=${f.attr} onInput=${set('attr')} placeholder=${configs[0]?.attr ?? 'custom:jit'} aria-label="attribute" data-testid="request-attr" />
    <datalist id="access-attrs">${configs.map((c) => html`<option value=${c.attr} />`)}</datalist>
    <input value=${f.value} onInput=${set('value')} size="6" aria-label="value" />
    <label>for <input value=${f.for} onInput=${set('for')} size="5" aria-label="duration" data-testid="request-for" /></label>
    <select value=${f.node} onChange=${set('node')} aria-label="device">
      <option value="">all my devices</option>
      ${devices.map((d) => html`<option value=${d.name}>${d.name}</option>`)}
    </select>
    <input value=${f.reason} onInput=${set('reason')} placeholder="reason" required size="30" aria-label="reason" data-testid="request-reason" />
    <button type="submit" data-testid="request-submit">Request access</button>
  </form>`;
}

function DenyForm({ r, setError, done }) {
  const [reason, setReason] = useState('');
  const submit = (e) => {
    e.preventDefault();
    act(() => api('POST', `access/requests/${r.id}/deny`, { reason }), setError).then(done);
  };
  return html`<form class="inline" onSubmit=${submit}>
    <input value=${reason} onInput=${(e) => setReason(e.target.value)} placeholder="why not" required aria-label="deny reason" />
    <button type="submit" class="small danger">Deny</button><button type="button" class="small" onClick=${done}>Cancel</button>
  </form>`;
}

function timeLeft(r, now) {
  if (r.state === 'pending') return `decide within ${left(r.pendingUntil, now).replace(' left', '')}`;
  if (r.state === 'approved') return left(r.expires, now);
  return ago(r.closed ?? r.decided, now);
}

export function Access({ me }) {
  const [state, setState] = useState('');
  const [data, loadError, reload] = useLive(loaders.get(state), ['audit', 'attr', 'node']);
  const [error, setError] = useState(null);
  const [denying, setDenying] = useState(null);
  const now = useNow(1000);
  const transition = (r, verb) => act(() => api('POST', `access/requests/${r.id}/${verb}`), setError).then(reload);
  return html`<section>
    <h2>Access requests</h2>
    <${ErrorLine} error=${loadError ?? error} />
    ${data ? html`<${RequestForm} configs=${data.configs} devices=${data.devices} setError=${setError} done=${reload} />` : null}
    <label>Show <select value=${state} onChange=${(e) => setState(e.target.value)} aria-label="state filter">${STATES.map((s) => html`<option value=${s}>${s || 'all'}</option>`)}</select></label>
    <table data-testid="requests">
      <thead><tr><th>#</th><th>Requester</th><th>Access</th><th>Devices</th><th>Reason</th><th>State</th><th>Time</th><th>Decided by</th><th></th></tr></thead>
      <tbody>
        ${(data?.requests ?? []).map(
          (r) => html`<tr data-request=${r.id} data-state=${r.state}>
            <td>${r.id}</td>
            <td>${r.requester}</td>
            <td class="mono">${r.attribute}=${String(r.value)} <span class="muted">for ${Math.round(r.durationMs / 1000)}s</span></td>
            <td>${r.nodes.length > 0 ? r.nodes.join(', ') : (r.node ?? html`<span class="muted">all devices</span>`)}</td>
            <td>${r.reason}${r.decisionReason ? html`<div class="muted">denied: ${r.decisionReason}</div>` : null}</td>
            <td><span class=${`state ${r.state}`} data-testid="request-state">${r.state}</span></td>
            <td data-testid="time-left">${timeLeft(r, now)}</td>
            <td>${r.approver ?? r.closedBy ?? ''}</td>
            <td class="actions">
              ${r.state === 'pending' && r.requester !== me.login
                ? denying === r.id
                  ? html`<${DenyForm} r=${r} setError=${setError} done=${() => { setDenying(null); reload(); }} />`
                  : html`<button class="small" onClick=${() => transition(r, 'approve')} data-testid="approve">Approve</button>
                      <button class="small danger" onClick=${() => setDenying(r.id)}>Deny</button>`
                : null}
              ${r.state === 'pending' && r.requester === me.login ? html`<button class="small" onClick=${() => transition(r, 'cancel')}>Cancel</button>` : null}
              ${r.state === 'approved' && me.role === 'admin' ? html`<button class="small danger" onClick=${() => transition(r, 'revoke')} data-testid="revoke">Revoke</button>` : null}
            </td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

export const pages = [['access', 'Access requests', Access, ['admin', 'member']]];
