// The one way our scripts read the CSRF token for their own fetch/XHR calls (htmx requests carry it from
// <body hx-headers>, set once in base.html).

/** The CSRF cookie first (it stays current if the user signs in again in another tab), else the page's token. */
export function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
  try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch { return ""; }
}
