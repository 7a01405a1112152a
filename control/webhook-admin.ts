// Setting and clearing the tailnet's webhook, shared by `control webhooks` and the admin API: one audit
// entry each. The secret is stored (HMAC needs it) but never echoed, logged or audited.
import { recordAudit } from './audit-log.js';
import type { Store } from './store.js';
import { validateWebhook, webhookConfig, writeWebhookConfig } from './webhook-outbox.js';

export function setWebhook(store: Store, url: string, secret: string): void {
  validateWebhook(url, secret);
  store.tx(() => {
    const before = webhookConfig(store.db);
    writeWebhookConfig(store.db, url, secret);
    recordAudit(store.db, { action: 'webhook.set', target: 'webhook', summary: `webhook → ${url}`, before: before && { url: before.url }, after: { url } });
  });
}

/** False when none was set. */
export function clearWebhook(store: Store): boolean {
  return store.tx(() => {
    const before = webhookConfig(store.db);
    if (!before) return false;
    writeWebhookConfig(store.db, '', '');
    store.db.prepare('DELETE FROM webhook_outbox').run();
    recordAudit(store.db, { action: 'webhook.clear', target: 'webhook', summary: `webhook ${before.url} removed`, before: { url: before.url } });
    return true;
  });
}
