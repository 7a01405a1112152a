// One base error for local misuse (bad config, bad arguments). Network input never throws: parsers
// return null and callers count the drop. `code` is stable so callers and tests can branch on it.
export class GrantwireError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GrantwireError';
    this.code = code;
  }
}

/** A positioned diagnostic; rendered as `file:line:col: message` (line and col are 1-based). */
export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
  code: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}
