// Suggested tags page, keyboard-first like the fast tagger: arrows move between cards, Enter confirms the focused
// card's suggestion, Shift+Enter its whole group, 1–9 correct it to that tag. Forms post through htmx; the body
// is swapped and focus comes back to the card at the same place.

import { hotkeyOption, moveIndex } from "./suggest_nav.js";

let index = 0;

const cards = () => [...document.querySelectorAll("#suggest-groups .suggest-card")];
const isTyping = (el) => el instanceof Element && el.closest("input, select, textarea, [contenteditable]");

function focusCard(i) {
  const all = cards();
  if (!all.length) return;
  index = Math.max(0, Math.min(i, all.length - 1));
  for (const [j, card] of all.entries()) card.classList.toggle("focused", j === index);
  all[index].focus({ preventScroll: false });
}

function submitWith(card, control) {
  const form = control.closest("form");
  window.htmx?.process(form ?? control); // a key pressed before htmx settled the last swap still posts through htmx
  if (control.tagName === "SELECT") control.dispatchEvent(new Event("change", { bubbles: true }));
  else if (form) form.requestSubmit(control);
  index = cards().indexOf(card);
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
  const all = cards();
  if (!all.length) return;
  const current = all.indexOf(document.activeElement?.closest?.(".suggest-card"));
  const card = all[current >= 0 ? current : Math.min(index, all.length - 1)];
  if (["ArrowRight", "ArrowLeft", "ArrowUp", "ArrowDown", "Home", "End"].includes(event.key)) {
    if (event.target.closest?.("button, a") && current < 0 && !event.key.startsWith("Arrow")) return;
    event.preventDefault();
    focusCard(current < 0 ? index : moveIndex(current, event.key, all.map((c) => c.offsetTop)));
    return;
  }
  if (current < 0) return; // Enter and digits act on a focused card only (buttons keep their own Enter)
  if (event.key === "Enter" && event.shiftKey) {
    const button = card.closest(".suggest-group")?.querySelector("[data-group-confirm]");
    if (button) { event.preventDefault(); submitWith(card, button); }
  } else if (event.key === "Enter") {
    const button = card.querySelector("[data-confirm-one]");
    if (button) { event.preventDefault(); submitWith(card, button); }
  } else if (/^[1-9]$/.test(event.key)) {
    const select = card.querySelector("[data-correct]");
    const value = select && hotkeyOption([...select.options].map((o) => ({ value: o.value, hotkey: o.dataset.hotkey ?? "" })), event.key);
    if (value) { event.preventDefault(); select.value = value; submitWith(card, select); }
  }
});

document.addEventListener("click", (event) => {
  const card = event.target.closest?.(".suggest-card");
  if (card && !event.target.closest("button, select, a")) focusCard(cards().indexOf(card));
});

document.addEventListener("input", (event) => {
  if (event.target.matches?.("input[type=range][name=threshold]")) {
    event.target.parentElement.querySelector("output").textContent = `${Math.round(event.target.value * 100)}%`;
  }
});

document.body.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target?.id !== "suggestions-body" && event.target.id !== "suggestions-body") return;
  if (document.activeElement === document.body || !document.activeElement) focusCard(index);
});

if (cards().length) focusCard(0);
