// Storing a new policy version from the host (`control policy set`, `control serve --policy`): validate it
// in full (syntax, references, `tests`) against the tailnet as stored, and only then make it the active
// version. A rejected policy changes nothing; the running server keeps its current one.
import type { Diagnostic } from '../types/errors.js';
import type { Tailnet } from '../types/tailnet.js';
import type { PolicyEngine } from './policy-engine.js';
import { lineDiffSummary, recordAudit } from './audit-log.js';
import type { AttrRow, PolicyRow, Store } from './store.js';
import { tailnetOf } from './views.js';

export function tailnetFromStore(store: Store, now = Date.now()): Tailnet {
  const attrs = new Map<number, AttrRow[]>();
  for (const a of store.allAttrs()) {
    const list = attrs.get(a.nodeId) ?? [];
    list.push(a);
    attrs.set(a.nodeId, list);
  }
  return tailnetOf(store.listUsers(), store.listNodes(), (id) => attrs.get(id) ?? [], now);
}

export interface StorePolicyResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  /** The active version after the call (unchanged when rejected, or when the text equals the active one). */
  version: number | null;
  unchanged: boolean;
  /** Neither grants nor acls: Tailscale's allow-all quirk. */
  allowAll: boolean;
}

export function storePolicy(store: Store, engine: PolicyEngine, text: string, file: string): StorePolicyResult {
  const active = store.activePolicy();
  if (active && active.text === text) return { ok: true, diagnostics: [], version: active.id, unchanged: true, allowAll: engine.tags(active.text, active.file).allowAll };
  const check = engine.check(text, file, tailnetFromStore(store));
  if (!check.ok) return { ok: false, diagnostics: check.diagnostics, version: active?.id ?? null, unchanged: true, allowAll: false };
  const row = addPolicyVersion(store, file, text);
  return { ok: true, diagnostics: check.diagnostics, version: row.id, unchanged: false, allowAll: check.allowAll };
}

/** Stores and activates a validated policy version with its audit entry (a line diff against the previous one). */
export function addPolicyVersion(store: Store, file: string, text: string, now = Date.now()): PolicyRow {
  return store.tx(() => {
    const before = store.activePolicy();
    const row = store.addPolicy(file, text, now);
    const diff = lineDiffSummary(before?.text ?? '', text);
    recordAudit(store.db, {
      action: 'policy.set',
      target: `policy ${row.id}`,
      summary: `policy ${before ? `version ${before.id}` : '(none)'} → version ${row.id} (${file}): ${diff}`,
      before: before && { version: before.id, file: before.file },
      after: { version: row.id, file },
      time: now,
    });
    return row;
  });
}

export const ALLOW_ALL_WARNING =
  'WARNING: the policy has neither "grants" nor "acls": every node may reach every other node on every port ' +
  '(Tailscale compatibility). Add "grants": [] to deny by default.';
