// The inbox's calls to /api/v1/ with the browser's session. Writes carry Django's CSRF token (the session
// cookie alone is refused for POST/PATCH/DELETE by SessionAuthentication, by design).

export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.reason(body) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }

  // The first message of a DRF error body ({"field": ["why"]} or {"detail": "why"}), for the agent to read.
  static reason(body) {
    if (!body || typeof body !== "object") return "";
    for (const value of Object.values(body)) {
      if (typeof value === "string") return value;
      if (Array.isArray(value) && value.length) return String(value[0]);
    }
    return "";
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api(path, { method = "GET", body, params } = {}) {
  let url = path.startsWith("/") ? path : `/api/v1/${path}`;
  if (params) url += `?${new URLSearchParams(params)}`;
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") {
    headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
  }
  const response = await fetch(url, init);
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
