// Custom attributes whose expiry passed are deleted by the coordinator's expiry timer (control.md
// "Lifecycle"); this does it with one audit entry per removed attribute, as `system` via `expiry`.
import { recordAudit } from './audit-log.js';
import type { Store } from './store.js';

/** Deletes expired attributes; returns the affected node ids. */
export function expireAttrs(store: Store, now: number): number[] {
  return store.tx(() => {
    const due = store.allAttrs().filter((a) => a.expires !== null && a.expires <= now);
    if (due.length === 0) return [];
    const ids = store.deleteExpiredAttrs(now);
    for (const a of due) {
      const name = store.node(a.nodeId)?.hostname ?? `#${a.nodeId}`;
      recordAudit(store.db, {
        action: 'attr.expire',
        target: `${name} ${a.name}`,
        summary: `${name}: ${a.name} expired`,
        before: { value: a.value, expires: a.expires },
        actor: 'system',
        via: 'expiry',
        time: now,
      });
    }
    return ids;
  });
}
