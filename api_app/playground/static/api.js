// Talking to the service: every URL is relative to the page, so the playground works behind a
// path prefix (root_path, ingress) and through the Azure Function entry.

const KEY_STORAGE = "sids-playground-api-key";

export const apiRoot = new URL(".", window.location.href);

export function apiUrl(path, query) {
  const url = new URL(String(path).replace(/^\//, ""), apiRoot);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url;
}

export function apiKey() {
  return window.sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(value) {
  if (value) window.sessionStorage.setItem(KEY_STORAGE, value);
  else window.sessionStorage.removeItem(KEY_STORAGE);
}

/** An answer that is not 2xx; `body` is the service's error JSON `{code, detail, errors}`. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

/** fetch + the API key header; JSON bodies are sent as JSON, FormData as multipart. */
export async function request(method, path, { query, body, headers, signal } = {}) {
  const sent = { ...(headers || {}) };
  const key = apiKey();
  if (key) sent["X-API-Key"] = key;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    sent["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(apiUrl(path, query), { method, headers: sent, body: payload, signal });
  const type = response.headers.get("content-type") || "";
  const content = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    throw new ApiError(response.status, typeof content === "object" ? content : { detail: content });
  }
  return { status: response.status, headers: response.headers, content, type };
}

export const getJson = async (path, query) => (await request("GET", path, { query })).content;
