// At most one live map stream per node (issue 10 item 5): a new stream for a node replaces the one it
// already has (that one is closed). A reconnecting agent whose old connection is half-dead thus takes
// over at once, and a copy of a node's keys cannot hold many streams open. One per server.

export class LiveStreams {
  private readonly byNode = new Map<number, { close: () => void }>();
  /** Streams closed because the same node opened a new one. */
  replaced = 0;

  /** Registers a stream for `nodeId`, closing the previous one; returns the function that unregisters it. */
  claim(nodeId: number, close: () => void): () => void {
    const prev = this.byNode.get(nodeId);
    const entry = { close };
    this.byNode.set(nodeId, entry);
    if (prev) {
      this.replaced++;
      prev.close();
    }
    return () => {
      if (this.byNode.get(nodeId) === entry) this.byNode.delete(nodeId);
    };
  }

  get size(): number {
    return this.byNode.size;
  }
}
