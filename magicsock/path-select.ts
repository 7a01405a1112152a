// Choosing a peer's path, as a pure function of what disco measured. A direct path counts only while it
// is trusted: a pong arrived within `trustMs`, and no ping on it has gone unanswered for longer than
// `pongTimeoutMs` (so a long trust window, which lets an idle peer's path live on keepalives, still drops
// a dead path soon after it stops answering); among trusted direct paths the lowest latency wins, but
// the current one is kept unless another is clearly faster (SWITCH_MARGIN), so two paths of about equal
// latency do not flap. No trusted direct path: the relay (null here).

/** A switch needs the new path to be this much faster: latency × factor + slack. */
export const SWITCH_FACTOR = 0.8;
export const SWITCH_SLACK_MS = 1;

export interface PathSample {
  /** Identifies the path (e.g. "198.51.100.7:41641"). */
  id: string;
  latencyMs: number;
  /** Monotonic ms of the last pong on this path (-Infinity: never). */
  lastPongMs: number;
  /** Monotonic ms of the oldest ping on this path not answered yet (absent or -1: none outstanding). */
  unansweredSinceMs?: number;
}

export function isTrusted(p: PathSample, nowMs: number, trustMs: number, pongTimeoutMs = Infinity): boolean {
  if (nowMs - p.lastPongMs > trustMs) return false;
  const u = p.unansweredSinceMs ?? -1;
  return u < 0 || nowMs - u <= pongTimeoutMs;
}

/** The id of the path to use, or null for the relay. */
export function selectPath(paths: readonly PathSample[], currentId: string | null, nowMs: number, trustMs: number, pongTimeoutMs = Infinity): string | null {
  let best: PathSample | null = null;
  let current: PathSample | null = null;
  for (const p of paths) {
    if (!isTrusted(p, nowMs, trustMs, pongTimeoutMs) || !Number.isFinite(p.latencyMs) || p.latencyMs < 0) continue;
    if (p.id === currentId) current = p;
    if (best === null || p.latencyMs < best.latencyMs || (p.latencyMs === best.latencyMs && p.id < best.id)) best = p;
  }
  if (best === null) return null;
  if (current !== null && current !== best && best.latencyMs > current.latencyMs * SWITCH_FACTOR - SWITCH_SLACK_MS) return current.id;
  return best.id;
}
