// The public dma API, called with the key the person entered (kept in this tab's sessionStorage only).
// Errors come back in the API's envelope {type: "error", error: {type, message}}; they become ApiError.

const KEY_STORAGE = "dma.apiKey";

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

// `dma dev` may open the console as /console/#key=…: the fragment never reaches a server; take it and drop it.
export function keyFromFragment() {
  const match = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
  if (!match) return null;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  return decodeURIComponent(match[1]);
}

function headers(extra = {}) {
  const key = storedKey();
  return {
    accept: "application/json",
    "anthropic-beta": "managed-agents-2026-04-01",
    ...(key ? { authorization: `Bearer ${key}` } : {}),
    ...extra,
  };
}

function query(params = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => search.append(`${name}[]`, item));
    else search.append(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

async function failure(response) {
  let type = "api_error";
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      type = body.error.type || type;
      message = body.error.message || message;
    }
  } catch {
    // Not the envelope (a proxy's page, say): the status line says enough.
  }
  return new ApiError(response.status, type, message);
}

export async function request(method, path, { params, body, signal } = {}) {
  let response;
  try {
    response = await fetch(path + query(params), {
      method,
      headers: headers(body !== undefined ? { "content-type": "application/json" } : {}),
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "connection_error", "Cannot reach the dma server. Is it running?");
  }
  if (!response.ok) throw await failure(response);
  return response.json();
}

export const get = (path, params, signal) => request("GET", path, { params, signal });
export const post = (path, body) => request("POST", path, { body: body ?? {} });
export const del = (path) => request("DELETE", path);

// Every item of a cursor-paged list (the API ends with next_page: null), up to `cap` items.
export async function listAll(path, params = {}, cap = 1000, signal) {
  const items = [];
  let page;
  do {
    const result = await get(path, { ...params, page }, signal);
    items.push(...result.data);
    page = result.next_page;
  } while (page && items.length < cap);
  return items;
}

export const sendEvents = (sessionId, events) => post(`/v1/sessions/${sessionId}/events`, { events });

// Follows a session's event stream (server-sent events over fetch, so the key travels in a header).
// Persisted events carry an id; after a dropped connection it resumes after the last one seen, losing nothing.
export function followSession(sessionId, { after, onEvent, onState }) {
  const controller = new AbortController();
  let last = after;
  let delay = 500;

  async function connect() {
    while (!controller.signal.aborted) {
      try {
        const params = query({ event_deltas: ["agent.message", "agent.thinking"], after: last });
        const response = await fetch(`/v1/sessions/${sessionId}/events/stream${params}`, {
          headers: headers({ accept: "text/event-stream" }),
          signal: controller.signal,
        });
        if (!response.ok) throw await failure(response);
        onState?.("live");
        delay = 500;
        for await (const frame of frames(response.body)) {
          if (frame.event === "ping" || !frame.data) continue;
          const event = JSON.parse(frame.data);
          if (frame.id) last = frame.id;
          onEvent(event);
          if (event.type === "session.deleted" || event.type === "session.status_terminated") {
            onState?.("ended");
            return;
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          onState?.("error", error);
          return;
        }
      }
      onState?.("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }

  connect();
  return () => controller.abort();
}

async function* frames(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      const frame = { event: "message", data: "", id: null };
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") frame.event = value;
        else if (field === "data") frame.data += (frame.data ? "\n" : "") + value;
        else if (field === "id") frame.id = value;
      }
      yield frame;
    }
  }
}
