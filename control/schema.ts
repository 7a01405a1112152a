// The control database schema as an ordered list of migrations. Each entry runs once, inside a
// transaction, and is recorded in `migrations`; a database written by a newer grantwire (a version we do
// not know) is refused rather than guessed at. Append new migrations; never edit an applied one.
import type Database from 'better-sqlite3';
import { GrantwireError } from '../types/errors.js';

export const MIGRATIONS: readonly string[] = [
  // 1: the whole initial state
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created INTEGER NOT NULL
  );
  CREATE TABLE nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stable_id TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL UNIQUE,
    machine_key TEXT NOT NULL UNIQUE,
    node_key TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    tags TEXT NOT NULL DEFAULT '[]',
    host_num INTEGER NOT NULL UNIQUE,
    v4 TEXT NOT NULL,
    v6 TEXT NOT NULL,
    endpoints TEXT NOT NULL DEFAULT '[]',
    hostinfo TEXT NOT NULL DEFAULT '{}',
    routes TEXT NOT NULL DEFAULT '[]',
    ephemeral INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    last_seen INTEGER,
    key_expiry INTEGER
  );
  CREATE TABLE auth_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    reusable INTEGER NOT NULL,
    ephemeral INTEGER NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    created INTEGER NOT NULL,
    expires INTEGER,
    revoked INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    last_used INTEGER
  );
  CREATE TABLE policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file TEXT NOT NULL,
    text TEXT NOT NULL,
    created INTEGER NOT NULL
  );
  CREATE TABLE attrs (
    node_id INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    expires INTEGER,
    PRIMARY KEY (node_id, name)
  );
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created INTEGER NOT NULL,
    revoked INTEGER
  );
  -- every mutation appends a row so that a running server notices changes made by admin commands
  CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref INTEGER NOT NULL DEFAULT 0
  );
  `,
  // 2: admin API tokens expire (issue 10); last_used for `users token list`
  `
  ALTER TABLE api_tokens ADD COLUMN expires INTEGER;
  ALTER TABLE api_tokens ADD COLUMN last_used INTEGER;
  `,
  // 3: just-in-time access requests, the audit log and the webhook outbox (issue 15)
  `
  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    summary TEXT NOT NULL,
    before TEXT,
    after TEXT
  );
  CREATE INDEX audit_log_time ON audit_log (time);
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TABLE access_attrs (
    attr TEXT PRIMARY KEY,
    approvers TEXT NOT NULL DEFAULT '[]',
    max_ms INTEGER
  );
  CREATE TABLE access_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    requester TEXT NOT NULL,
    attr TEXT NOT NULL,
    value TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    node_id INTEGER,
    node_name TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'cancelled', 'expired', 'ended', 'revoked')),
    created INTEGER NOT NULL,
    pending_until INTEGER NOT NULL,
    decided INTEGER,
    decided_by TEXT,
    decision_reason TEXT,
    approved_until INTEGER,
    closed INTEGER,
    closed_by TEXT,
    nodes TEXT NOT NULL DEFAULT '[]'
  );
  CREATE INDEX access_requests_state ON access_requests (state);
  CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    created INTEGER NOT NULL
  );
  `,
  // 4: one-time sign-in links for the admin console (control/console/sign-in-links.ts), stored hashed
  `
  CREATE TABLE console_links (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    used INTEGER
  );
  `,
  // 4: subnet routes (issue 14): what the agent advertises and what an admin approved; \`routes\` stays the
  // effective set (advertised ∩ (approved ∪ auto-approved)) that netmaps and the policy read
  `
  ALTER TABLE nodes ADD COLUMN advertised_routes TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE nodes ADD COLUMN approved_routes TEXT NOT NULL DEFAULT '[]';
  `,
];

/** Applies pending migrations; returns the resulting schema version. */
export function migrate(db: Database.Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)');
  const row = db.prepare('SELECT MAX(version) AS v FROM migrations').get() as { v: number | null };
  const current = row.v ?? 0;
  if (current > MIGRATIONS.length) {
    throw new GrantwireError(
      'ERR_CONTROL_SCHEMA_NEWER',
      `state database has schema version ${current}, this control knows up to ${MIGRATIONS.length}`,
    );
  }
  for (let v = current + 1; v <= MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v - 1]);
      db.prepare('INSERT INTO migrations (version, applied) VALUES (?, ?)').run(v, Date.now());
    }).immediate();
  }
  return MIGRATIONS.length;
}
