// Calls to this server only: relative URLs resolved against the page, the optional bearer token from sessionStorage.

const KEY = "aiaas.token";

export const token = {
  get() {
    try {
      return sessionStorage.getItem(KEY) || "";
    } catch {
      return "";
    }
  },
  set(value) {
    try {
      if (value) sessionStorage.setItem(KEY, value);
      else sessionStorage.removeItem(KEY);
    } catch {
      // storage refused (private mode): the token lasts until the page reloads
    }
    memory = value;
  },
};
let memory = "";

export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export function modelPath(name, version) {
  const base = `v2/models/${encodeURIComponent(name)}`;
  return version ? `${base}/versions/${encodeURIComponent(version)}` : base;
}

export async function api(path, { method = "GET", body, text = false } = {}) {
  const headers = {};
  const bearer = token.get() || memory;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(path, document.baseURI), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
    });
  } catch (exc) {
    throw new ApiError(0, `no answer from the server (${exc.message})`);
  }
  const content = await response.text();
  if (!response.ok) {
    let message = content.slice(0, 500);
    try {
      const doc = JSON.parse(content);
      if (doc && typeof doc.error === "string") message = doc.error;
    } catch {
      // not JSON: keep the text
    }
    throw new ApiError(response.status, message || `HTTP ${response.status}`, response.headers.get("retry-after"));
  }
  if (text) return content;
  try {
    return JSON.parse(content);
  } catch (exc) {
    throw new ApiError(response.status, `the server's answer is not JSON (${exc.message})`);
  }
}

// The message a person reads for a failed call.
export function describe(exc) {
  if (!(exc instanceof ApiError)) return String(exc && exc.message ? exc.message : exc);
  const wait = exc.retryAfter ? ` (retry after ${exc.retryAfter} s)` : "";
  return exc.status ? `${exc.status}: ${exc.message}${wait}` : exc.message;
}

export function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
