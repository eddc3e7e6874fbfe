// Saves every change at once, in order, and never drops one silently: network and server failures are
// shown and retried with back-off until they succeed; a 4xx (the server refused the change) is shown
// and handed to onRejected so the page can resynchronise from the server.

import { csrfToken } from "../js/csrf.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Saver {
  constructor({ statusEl, retryButton, onRejected = () => {} }) {
    this.queue = [];
    this.running = false;
    this.statusEl = statusEl;
    this.retryButton = retryButton;
    this.onRejected = onRejected;
    this.waiters = [];
    this.wake = null;
    retryButton?.addEventListener("click", () => this.wake?.());
    window.addEventListener("beforeunload", (event) => {
      if (this.queue.length) { event.preventDefault(); event.returnValue = ""; }
    });
  }

  get pending() { return this.queue.length; }

  /** op: {url, data: object, missingOk?: bool, onDone?: (text, response) => void, label?: string} */
  push(op) {
    this.queue.push(op);
    this.show("saving", "Saving…");
    if (!this.running) this.run();
  }

  /** Resolves once everything queued so far is saved (or refused). */
  idle() {
    if (!this.queue.length) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  show(state, text) {
    if (!this.statusEl) return;
    this.statusEl.dataset.state = state;
    this.statusEl.textContent = text;
    if (this.retryButton) this.retryButton.hidden = state !== "failed";
  }

  async run() {
    this.running = true;
    let attempt = 0;
    while (this.queue.length) {
      const op = this.queue[0];
      let failure = null;
      try {
        const response = await fetch(op.url, {
          method: "POST",
          headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
          body: new URLSearchParams(op.data),
          credentials: "same-origin",
          redirect: "manual",
        });
        const text = await response.text();
        if (response.ok || (op.missingOk && response.status === 404)) {
          this.queue.shift();
          attempt = 0;
          op.onDone?.(text, response);
          continue;
        }
        if (response.type === "opaqueredirect" || response.status === 0 || response.status === 403) {
          // Signed out (login redirect) or a stale CSRF token: kept and retried until the user signs in again.
          failure = "you are signed out: sign in again in another tab";
        } else if (response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status)) {
          this.queue.shift();
          attempt = 0;
          let message = `The server refused this change (${response.status}).`;
          try { message = JSON.parse(text).message || message; } catch { /* not JSON */ }
          this.show("rejected", `Not saved: ${message}`);
          this.onRejected(op, message);
          continue;
        } else {
          failure = `server error ${response.status}`;
        }
      } catch (error) {
        failure = "no connection";
      }
      attempt += 1;
      const delay = Math.min(1000 * 2 ** (attempt - 1), 15000);
      this.show("failed", `Couldn't save (${failure}); ${this.queue.length} change${this.queue.length > 1 ? "s" : ""} waiting — retrying in ${Math.round(delay / 1000)} s`);
      await new Promise((resolve) => { this.wake = resolve; setTimeout(resolve, delay); });
      this.wake = null;
      this.show("saving", "Saving…");
    }
    this.running = false;
    if (this.statusEl?.dataset.state !== "rejected") this.show("saved", "All changes saved");
    const waiters = this.waiters.splice(0);
    waiters.forEach((resolve) => resolve());
  }
}
