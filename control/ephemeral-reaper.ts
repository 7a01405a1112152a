// Deletion timers for ephemeral nodes: once an ephemeral node's last map stream ends (or control starts and
// finds it offline), it is removed after ephemeralTimeoutMs unless it streams again first. One timer per
// node; the coordinator cancels it when a stream opens or the node goes away, and `onDue` re-checks.
//
// Not concurrency-safe; one per coordinator. Timers are unref'd.

export class EphemeralReaper {
  private readonly timers = new Map<number, NodeJS.Timeout>();

  /** `onDue(nodeId)` decides whether the node is still to be deleted (it may be online again). */
  constructor(private readonly onDue: (nodeId: number) => void) {}

  schedule(nodeId: number, delayMs: number): void {
    this.cancel(nodeId);
    const t = setTimeout(() => {
      this.timers.delete(nodeId);
      this.onDue(nodeId);
    }, delayMs);
    t.unref();
    this.timers.set(nodeId, t);
  }

  cancel(nodeId: number): void {
    const t = this.timers.get(nodeId);
    if (t) clearTimeout(t);
    this.timers.delete(nodeId);
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
