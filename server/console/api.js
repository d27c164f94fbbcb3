// The console's access to confcenterd's HTTP/JSON API (docs/api.md): unary calls as
// POST /v1/<Service>/<Method> with canonical JSON, streams as Server-Sent Events read with
// fetch (EventSource cannot send the Authorization header a token needs).

const TOKEN_KEY = 'confcenter.token';

// The bearer token the user signed in with ('' = none). Kept for the browser tab only.
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// An error the server answered with: its gRPC status name and message, shown as they are.
export class ApiError extends Error {
  constructor(httpStatus, status, message) {
    super(message);
    this.httpStatus = httpStatus;
    this.status = status;
  }
  toString() {
    return `${this.status}: ${this.message}`;
  }
}

function headers(extra = {}) {
  const h = {'Content-Type': 'application/json', ...extra};
  if (token()) h.Authorization = `Bearer ${token()}`;
  return h;
}

async function errorOf(res) {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    return new ApiError(res.status, body.status || String(res.status), body.message || text);
  } catch {
    return new ApiError(res.status, String(res.status), text || res.statusText);
  }
}

// Calls `method` ("ConfigService/Resolve") with `request`; resolves to the response object,
// rejects with an ApiError.
export async function call(method, request = {}) {
  const res = await fetch(`/v1/${method}`, {
    method: 'POST',
    headers: headers(),
    body: JSON.stringify(request),
  });
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

// Every item of a paged listing: `field` of each page, following nextPageToken, at most
// `limit` items.
export async function callAll(method, request, field, limit = 100000) {
  const items = [];
  let pageToken = '';
  do {
    const page = await call(method, {...request, pageToken});
    items.push(...(page[field] || []));
    pageToken = page.nextPageToken || '';
  } while (pageToken && items.length < limit);
  return items;
}

// One "event: ...\ndata: ...\nid: ..." block of an event stream.
function parseEvent(block) {
  const event = {event: 'message', data: ''};
  for (const line of block.replace(/\r/g, '').split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^ /, '');
    if (name === 'data') event.data += event.data ? `\n${value}` : value;
    else event[name] = value;
  }
  return event;
}

// Errors after which a stream is resumed: the server is stopping (UNAVAILABLE), or it cut a
// client that read too slowly (RESOURCE_EXHAUSTED).
const RESUMABLE = new Set(['UNAVAILABLE', 'RESOURCE_EXHAUSTED']);

// Follows a server-streaming `method` (WatchService/Subscribe). Calls onMessage(message) for
// each message and onState({live, retrying, error}) when the connection changes. After a drop
// it reconnects (1 s, 2 s, ... up to 30 s) resuming after the last complete revision with
// Last-Event-ID; any other error stops it (retrying false). Returns a function that stops it.
export function follow(method, request, {onMessage, onState}) {
  const controller = new AbortController();
  let stopped = false;
  let resumeAfter = null;  // the last revision fully received, once the snapshot is done
  let epoch = '';
  (async () => {
    for (let attempt = 0; !stopped; attempt++) {
      let error = null;
      try {
        const extra = {Accept: 'text/event-stream'};
        if (resumeAfter !== null) extra['Last-Event-ID'] = String(resumeAfter);
        const body = resumeAfter !== null && epoch ? {...request, epoch} : request;
        const res = await fetch(`/v1/${method}`, {
          method: 'POST',
          headers: headers(extra),
          body: JSON.stringify(body),
          signal: controller.signal,
        });
        if (!res.ok) throw await errorOf(res);
        onState({live: true});
        attempt = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = parseEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (!event.data) continue;  // a comment (a proxy's keep-alive)
            if (event.event === 'end') {
              const status = JSON.parse(event.data);
              if (!RESUMABLE.has(status.status)) {
                stopped = true;
                onState({live: false, retrying: false,
                         error: new ApiError(0, status.status, status.message)});
              }
              continue;
            }
            const message = JSON.parse(event.data);
            if (message.epoch) epoch = message.epoch;
            const kind = message.kind;
            if (kind !== 'SUBSCRIBE_RESPONSE_KIND_SNAPSHOT' || message.snapshotLast) {
              resumeAfter = Number(message.revision || 0);
            }
            onMessage(message);
          }
        }
      } catch (e) {
        if (stopped) return;
        error = e;
        if (e instanceof ApiError && !RESUMABLE.has(e.status)) {
          onState({live: false, retrying: false, error: e});
          return;
        }
      }
      if (stopped) return;
      onState({live: false, retrying: true, error});
      const delay = Math.min(30000, 1000 * 2 ** Math.min(attempt, 5));
      await new Promise(resolve => setTimeout(resolve, delay));
    }
  })();
  return () => {
    stopped = true;
    controller.abort();
  };
}
