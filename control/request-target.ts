// The request target of an incoming HTTP request, parsed without throwing. Node hands handlers the raw
// target: origin-form (`/key?x`) but also absolute-form (`http://host/path`, RFC 9112 §3.2.2), and an
// absolute-form target can be anything a client typed (`http://[/`, `http://a:99999/`, `http://%zz/`).
// `new URL` throws on those; inside an event handler that throw would end the process. Callers answer
// null with 400 and keep serving.

/** The parsed target, or null when it is not a valid origin-form or absolute-form http(s) URL. */
export function parseRequestTarget(target: string | undefined, base: string): URL | null {
  if (target === undefined || target === '') return null;
  try {
    const url = new URL(target, base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}
