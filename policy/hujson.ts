// HuJSON (JSON with comments and trailing commas) parsed into a tree that keeps source offsets, so every
// later diagnostic can say `file:line:col`. jsonc-parser does the scanning; this file turns its error
// codes into readable messages and offers small typed accessors for the validator.
import { parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { DiagSink, ERR } from './diagnostics.js';

export type JsonNode = Node;

const SYNTAX_MESSAGES: Record<string, string> = {
  InvalidSymbol: 'invalid symbol',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a property name (a double-quoted string)',
  ValueExpected: 'expected a value',
  ColonExpected: "expected ':'",
  CommaExpected: "expected ','",
  CloseBraceExpected: "expected '}'",
  CloseBracketExpected: "expected ']'",
  EndOfFileExpected: 'expected end of file',
  InvalidCommentToken: 'invalid comment',
  UnexpectedEndOfComment: 'unterminated comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'unterminated number',
  InvalidUnicode: 'invalid unicode escape',
  InvalidEscapeCharacter: 'invalid escape character',
  InvalidCharacter: 'invalid character in string',
};

/** Parses HuJSON; syntax errors go to `sink`. Returns null when the text is not usable at all. */
export function parseHuJSON(text: string, sink: DiagSink): JsonNode | null {
  const errors: ParseError[] = [];
  let root: Node | undefined;
  // A leading byte-order mark (editors on Windows add one) is whitespace to us; a space keeps offsets.
  if (text.charCodeAt(0) === 0xfeff) text = ' ' + text.slice(1);
  try {
    root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  } catch (err) {
    // jsonc-parser is not documented to throw, but user input must never escape as an exception.
    sink.at(0, ERR.SYNTAX, `syntax error: ${(err as Error).message}`);
    return null;
  }
  for (const e of errors) {
    const name = printParseErrorCode(e.error);
    sink.at(e.offset, ERR.SYNTAX, `syntax error: ${SYNTAX_MESSAGES[name] ?? name}`);
  }
  if (errors.length > 0 || root === undefined) {
    if (errors.length === 0) sink.at(0, ERR.SYNTAX, 'syntax error: empty document');
    return null;
  }
  return root;
}

export interface Entry {
  key: string;
  keyNode: JsonNode;
  value: JsonNode;
}

/** The properties of an object node, in source order; duplicate keys are reported (JSON is ambiguous there). */
export function entries(node: JsonNode, sink: DiagSink, where: string): Entry[] {
  const out: Entry[] = [];
  const seen = new Set<string>();
  for (const prop of node.children ?? []) {
    const keyNode = prop.children?.[0];
    const value = prop.children?.[1];
    if (!keyNode || !value) continue;
    const key = String(keyNode.value);
    if (seen.has(key)) {
      sink.at(keyNode.offset, ERR.DUPLICATE_KEY, `${where}: duplicate key ${JSON.stringify(key)}`);
      continue;
    }
    seen.add(key);
    out.push({ key, keyNode, value });
  }
  return out;
}

export function describe(node: JsonNode): string {
  return node.type === 'property' ? 'property' : node.type === 'null' ? 'null' : `${node.type === 'object' || node.type === 'array' ? 'an' : 'a'} ${node.type}`;
}

/** Checks that `node` is an object; reports otherwise. */
export function expectObject(node: JsonNode, sink: DiagSink, where: string): boolean {
  if (node.type === 'object') return true;
  sink.at(node.offset, ERR.TYPE, `${where}: expected an object, got ${describe(node)}`);
  return false;
}

export function expectArray(node: JsonNode, sink: DiagSink, where: string): JsonNode[] | null {
  if (node.type === 'array') return node.children ?? [];
  sink.at(node.offset, ERR.TYPE, `${where}: expected a list, got ${describe(node)}`);
  return null;
}

export function expectString(node: JsonNode, sink: DiagSink, where: string): string | null {
  if (node.type === 'string') return node.value as string;
  sink.at(node.offset, ERR.TYPE, `${where}: expected a string, got ${describe(node)}`);
  return null;
}

/** A list of strings; non-string items are reported and skipped. Returns [value, node] pairs. */
export function stringList(node: JsonNode, sink: DiagSink, where: string): Array<[string, JsonNode]> | null {
  const items = expectArray(node, sink, where);
  if (!items) return null;
  const out: Array<[string, JsonNode]> = [];
  for (const it of items) {
    const s = expectString(it, sink, where);
    if (s !== null) out.push([s, it]);
  }
  return out;
}

/** The plain JS value of a subtree (for opaque app capability values passed through verbatim). */
export function toValue(node: JsonNode): unknown {
  switch (node.type) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const p of node.children ?? []) {
        const k = p.children?.[0];
        const v = p.children?.[1];
        // defineProperty, so a "__proto__" key stays plain data instead of replacing the prototype.
        if (k && v) Object.defineProperty(o, String(k.value), { value: toValue(v), enumerable: true, writable: true, configurable: true });
      }
      return o;
    }
    case 'array':
      return (node.children ?? []).map(toValue);
    default:
      return node.value;
  }
}
