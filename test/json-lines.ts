// Reading a child process's stdout as JSON lines: the lab's probe and echo processes report that way.
import type { ChildProcess } from 'node:child_process';

/** Resolves with the first stdout line of `child` that parses as JSON and satisfies `pred`. */
export function nextLine(child: ChildProcess, pred: (o: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      child.stdout!.off('data', onData);
      reject(new Error(`no matching line within ${timeoutMs} ms (got ${JSON.stringify(buf)})`));
    }, timeoutMs);
    const onData = (c: Buffer) => {
      buf += c.toString();
      for (const line of buf.split('\n')) {
        if (!line.startsWith('{')) continue;
        const o = JSON.parse(line) as Record<string, unknown>;
        if (pred(o)) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          resolve(o);
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
  });
}
