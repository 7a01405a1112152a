// The policy editor: the active policy's HuJSON in a text area, checked by the server as you type (POST
// /api/v1/policy/check, the same validation `policy check` and `policy set` run, including the policy's
// tests) with every diagnostic at its line:col, a "who can reach what" preview for a chosen node under the
// draft and under the active policy, and save.
import { useEffect, useRef, useState } from '../vendor/hooks.js';
import { api, live } from './api.js';
import { html } from './html.js';
import { act, ErrorLine } from './util.js';

const CHECK_DELAY_MS = 300;

function Gutter({ lines, bad, scroll }) {
  return html`<div class="gutter" aria-hidden="true" style=${`transform: translateY(${-scroll}px)`}>
    ${Array.from({ length: lines }, (_, i) => html`<div class=${bad.has(i + 1) ? 'bad' : ''}>${i + 1}</div>`)}
  </div>`;
}

function ReachList({ title, entries, other }) {
  const key = (e) => `${e.peer} ${e.access.join(' ')}`;
  const otherKeys = new Set((other ?? []).map(key));
  return html`<div class="reach">
    <h4>${title}</h4>
    ${entries.length === 0
      ? html`<p class="muted">nobody</p>`
      : html`<ul>${entries.map((e) => html`<li class=${other && !otherKeys.has(key(e)) ? 'changed' : ''}><strong>${e.peer}</strong> <span class="muted">${e.owner}</span>: ${e.access.join(', ')}</li>`)}</ul>`}
  </div>`;
}

function Preview({ result }) {
  if (!result) return null;
  const { draft, active } = result;
  if (!draft) return html`<p class="error">Fix the diagnostics to preview the draft.</p>`;
  return html`<div class="preview" data-testid="preview">
    <div>
      <h3>Draft</h3>
      <${ReachList} title=${`Who can reach ${draft.node}`} entries=${draft.inbound} other=${active?.inbound} />
      <${ReachList} title=${`What ${draft.node} can reach`} entries=${draft.outbound} other=${active?.outbound} />
    </div>
    <div>
      <h3>Active policy</h3>
      ${active
        ? html`<${ReachList} title=${`Who can reach ${active.node}`} entries=${active.inbound} />
            <${ReachList} title=${`What ${active.node} can reach`} entries=${active.outbound} />`
        : html`<p class="muted">—</p>`}
    </div>
  </div>`;
}

export function PolicyEditor() {
  const [text, setText] = useState(null);
  const [version, setVersion] = useState(null);
  const [serverVersion, setServerVersion] = useState(null);
  const [diagnostics, setDiagnostics] = useState([]);
  const [checking, setChecking] = useState(false);
  const [saved, setSaved] = useState(null);
  const [error, setError] = useState(null);
  const [nodes, setNodes] = useState([]);
  const [node, setNode] = useState('');
  const [preview, setPreview] = useState(null);
  const [scroll, setScroll] = useState(0);
  const area = useRef(null);
  const timer = useRef(null);
  const seq = useRef(0);

  const load = () =>
    act(async () => {
      const p = await api('GET', 'policy');
      setText(p.text);
      setVersion(p.version);
      setServerVersion(p.version);
      setDiagnostics([]);
    }, setError);

  useEffect(() => {
    load();
    api('GET', 'nodes').then((r) => {
      setNodes(r.nodes);
      if (r.nodes.length > 0) setNode((cur) => cur || r.nodes[0].name);
    }, setError);
    return live((kinds) => {
      if (kinds.includes('policy')) api('GET', 'policy').then((p) => setServerVersion(p.version), () => {});
      if (kinds.includes('node')) api('GET', 'nodes').then((r) => setNodes(r.nodes), () => {});
    });
  }, []);

  const check = (t) => {
    const mine = ++seq.current;
    setChecking(true);
    api('POST', 'policy/check', t).then(
      (r) => {
        if (mine !== seq.current) return;
        setDiagnostics(r.diagnostics);
        setChecking(false);
      },
      (e) => {
        setError(e);
        setChecking(false);
      },
    );
  };

  const onInput = (e) => {
    const t = e.target.value;
    setText(t);
    setSaved(null);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => check(t), CHECK_DELAY_MS);
  };

  const jump = (d) => {
    const ta = area.current;
    const lines = ta.value.split('\n');
    let pos = 0;
    for (let i = 0; i < d.line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    pos += d.col - 1;
    ta.focus();
    ta.setSelectionRange(pos, pos);
  };

  const save = () =>
    act(async () => {
      try {
        const r = await api('POST', 'policy', text);
        setSaved(r.version);
        setVersion(r.version);
        setServerVersion(r.version);
        setDiagnostics([]);
      } catch (e) {
        if (e.data?.code === 'policy_invalid') check(text);
        throw e;
      }
    }, setError);

  const runPreview = () => act(async () => setPreview(await api('POST', `policy/preview?node=${encodeURIComponent(node)}`, text)), setError);

  if (text === null) return html`<section><h2>Policy</h2><${ErrorLine} error=${error} /><p class="loading">Loading…</p></section>`;
  const errors = diagnostics.filter(Boolean);
  const bad = new Set(errors.map((d) => d.line));
  return html`<section class="policy">
    <h2>Policy <span class="muted">version ${version}</span></h2>
    ${serverVersion !== null && serverVersion !== version
      ? html`<div class="notice">The active policy changed on the server (version ${serverVersion}). <button class="small" onClick=${load}>Load it</button> (discards your edits)</div>`
      : null}
    <${ErrorLine} error=${error} />
    <div class="editor">
      <${Gutter} lines=${text.split('\n').length} bad=${bad} scroll=${scroll} />
      <textarea ref=${area} spellcheck="false" value=${text} onInput=${onInput} onScroll=${(e) => setScroll(e.target.scrollTop)} data-testid="policy-text" aria-label="policy (HuJSON)"></textarea>
    </div>
    <div class="status" data-testid="policy-status">
      ${checking ? 'checking…' : errors.length === 0 ? html`<span class="ok">✓ valid</span>` : html`<span class="error">${errors.length} problem${errors.length === 1 ? '' : 's'}</span>`}
      ${saved !== null ? html` <span class="ok" data-testid="saved">saved as version ${saved}</span>` : null}
    </div>
    <ul class="diagnostics" data-testid="diagnostics">
      ${errors.map((d) => html`<li data-testid="diagnostic" data-line=${d.line} onClick=${() => jump(d)}><span class="mono">${d.line}:${d.col}</span> ${d.message}</li>`)}
    </ul>
    <div class="toolbar">
      <button onClick=${save} disabled=${errors.length > 0 || checking} data-testid="save-policy">Save policy</button>
      <span class="spacer"></span>
      <label>Preview for <select value=${node} onChange=${(e) => setNode(e.target.value)} data-testid="preview-node">${nodes.map((n) => html`<option value=${n.name}>${n.name}</option>`)}</select></label>
      <button onClick=${runPreview} disabled=${!node} data-testid="run-preview">Who can reach what</button>
    </div>
    <${Preview} result=${preview} />
  </section>`;
}
