// The audit entry of a registration (registration.ts): a new node, a node re-registered with an auth key
// (re-keyed, or its tags changed), or a known node whose tags or name changed. A node that only resumes
// with its own keys changes nothing worth recording (hostinfo is telemetry) and writes none. The actor is
// the user whose auth key (or node) it is, via `registration`.
import { recordAudit } from './audit-log.js';
import type { RegisterOutcome } from './registration.js';
import type { NodeRow, Store } from './store.js';

export function auditRegistration(store: Store, before: NodeRow | null, out: RegisterOutcome, now: number): void {
  if (!out.ok) return;
  const n = out.node;
  const actor = store.userById(n.userId)?.login ?? 'unknown';
  const tags = n.tags.length > 0 ? ` tags ${n.tags.join(',')}` : '';
  const after = { id: n.id, name: n.hostname, tags: n.tags, addresses: [n.v4, n.v6], ephemeral: n.ephemeral };
  const entry = { target: n.hostname, actor, via: 'registration', time: now, after };
  if (out.created) {
    recordAudit(store.db, { ...entry, action: 'node.register', summary: `${n.hostname} registered (${n.v4})${tags} with key ${out.authKeyId}` });
    return;
  }
  const was = before && { name: before.hostname, tags: before.tags, nodeKey: before.nodeKey };
  if (out.authKeyId !== null) {
    recordAudit(store.db, { ...entry, action: 'node.reauth', summary: `${n.hostname} re-registered${tags} with key ${out.authKeyId}`, before: was });
    return;
  }
  if (!before) return;
  const changed: string[] = [];
  if (before.tags.join(',') !== n.tags.join(',')) changed.push(`tags ${before.tags.join(',') || '(none)'} → ${n.tags.join(',') || '(none)'}`);
  if (before.hostname !== n.hostname) changed.push(`name ${before.hostname} → ${n.hostname}`);
  if (changed.length > 0) recordAudit(store.db, { ...entry, action: 'node.update', summary: `${n.hostname}: ${changed.join(', ')}`, before: was });
}
