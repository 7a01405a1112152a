// The change feed: how one control process learns what other processes (admin commands run against the
// same state file) committed. Every Store mutation appends a row to `changes` tagged with the writer's
// origin; read() returns what other origins changed since the last read, grouped by what must be redone.
// Cheap when nothing changed: one PRAGMA data_version.
//
// Not concurrency-safe; one per coordinator.
import type { Store } from './store.js';

/** What other processes changed since the last read. */
export interface ExternalChanges {
  /** The active policy changed. */
  policy: boolean;
  users: Set<number>;
  /** Nodes whose row or attributes changed. */
  nodes: Set<number>;
}

/** Rows kept in `changes` once the feed has read past PRUNE_AFTER_SEQ; enough for a slow second reader. */
const KEEP_ROWS = 1000;
const PRUNE_AFTER_SEQ = 10_000;

export class ChangeFeed {
  private lastSeq = 0;
  private lastDataVersion = -1;

  constructor(
    private readonly store: Store,
    private readonly stats: { externalChanges: number },
  ) {}

  /** Starts reading after everything committed so far (the caller loads the current state itself). */
  start(): void {
    this.lastSeq = this.store.lastChangeSeq();
    this.lastDataVersion = this.store.dataVersion();
  }

  /** Null when nothing was committed since the last read; else the changes of other origins (maybe none). */
  read(): ExternalChanges | null {
    const dv = this.store.dataVersion();
    if (dv === this.lastDataVersion) return null;
    this.lastDataVersion = dv;
    const changes = this.store.changesSince(this.lastSeq);
    if (changes.length === 0) return null;
    this.lastSeq = changes[changes.length - 1].seq;
    const out: ExternalChanges = { policy: false, users: new Set(), nodes: new Set() };
    for (const c of changes) {
      if (c.origin === this.store.origin) continue;
      this.stats.externalChanges++;
      if (c.kind === 'user') out.users.add(c.ref);
      else if (c.kind === 'policy') out.policy = true;
      else if (c.kind === 'node' || c.kind === 'attr') out.nodes.add(c.ref);
    }
    return out;
  }

  /** Drops old rows of the `changes` table once it has grown; call after the changes were applied. */
  prune(): void {
    if (this.lastSeq > PRUNE_AFTER_SEQ) this.store.pruneChanges(this.lastSeq - KEEP_ROWS);
  }
}
