// Control's logger: an injected sink with structured fields. Every line passes through redactSecrets, so
// even a careless caller cannot put an auth key or API token into the log (keys are logged by id only).
// Private keys never reach a logger at all: nothing in control formats them.
import { redactSecrets } from './secrets.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void;
}

export function formatLogLine(level: LogLevel, msg: string, fields?: LogFields): string {
  let line = `${new Date().toISOString()} ${level.toUpperCase()} ${msg}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      const s = String(v);
      line += ` ${k}=${/[\s"=]/.test(s) ? JSON.stringify(s) : s}`;
    }
  }
  return redactSecrets(line);
}

/** Writes lines to a stream (serve uses stderr); drops debug unless `debug` is set. */
export function streamLogger(write: (line: string) => void, debug = false): Logger {
  return {
    log(level, msg, fields) {
      if (level === 'debug' && !debug) return;
      write(formatLogLine(level, msg, fields) + '\n');
    },
  };
}

/** Collects lines in memory (tests assert on them). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    log(level, msg, fields) {
      lines.push(formatLogLine(level, msg, fields));
    },
  };
}

export const silentLogger: Logger = { log() {} };
