// The classification fast tagger: 1–9 (and N for Negative) set the image's tags, ←/→ move on.
// Buttons are plain forms; here they are posted through the Saver (retried, never lost) and the
// state shown at once, then confirmed by the server's #tag-buttons fragment.

import { setupPage, isTyping } from "./page.js";
import { Saver } from "./saver.js";

const root = document.getElementById("classifier");
const multilabel = root.dataset.multilabel === "true";

function swapButtons(html) {
  const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("tag-buttons");
  if (fresh) document.getElementById("tag-buttons").replaceWith(fresh);
}

const saver = new Saver({
  statusEl: document.getElementById("save-status"),
  retryButton: document.getElementById("save-retry"),
  onRejected: async () => {
    const response = await fetch(window.location.href);
    swapButtons(await response.text());
  },
});

function setPressed(form, on) {
  const button = form.querySelector("button");
  button.setAttribute("aria-pressed", String(on)); // the check icon shows through CSS
  form.elements.on.value = on ? "0" : "1"; // the next press asks for the opposite
}

function press(form) {
  const data = Object.fromEntries(new FormData(form)); // before the optimistic update flips "on"
  const on = data.on === "1";
  const negative = form.querySelector("button").classList.contains("negative");
  const forms = [...document.querySelectorAll("#tag-buttons form.tag-set")];
  if (on) {
    for (const other of forms) {
      if (other === form) continue;
      const otherNegative = other.querySelector("button").classList.contains("negative");
      if (!multilabel || negative || otherNegative) setPressed(other, false);
    }
  }
  setPressed(form, on);
  const anyOn = forms.some((f) => f.querySelector("button").getAttribute("aria-pressed") === "true");
  document.getElementById("image-tags-summary").innerHTML = anyOn ? "Tagged" : '<span class="muted">Untagged</span>';
  saver.push({ url: form.action, data, onDone: swapButtons });
}

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form.tag-set");
  if (!form) return;
  event.preventDefault();
  press(form);
});

const page = setupPage({ saver });

document.addEventListener("keydown", (event) => {
  if (isTyping(event.target)) return;
  if (page.onKey(event)) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  const button = document.querySelector(`#tag-buttons button[data-hotkey="${CSS.escape(key)}"]`);
  if (button) {
    event.preventDefault();
    press(button.form);
    button.focus({ preventScroll: true });
  }
});
root.dataset.ready = "true";
