// Training images page: selection (click, shift-click, select all on page), the image dialog, confirmations.
// Plain ES module, no build step. State lives in the DOM (checkboxes), so htmx swaps need no bookkeeping.

let lastClicked = null; // image id of the last tile toggled, for shift-click ranges

const checkboxes = () => [...document.querySelectorAll("#grid .thumb-check")];

function refreshSelection() {
  const boxes = checkboxes();
  const n = boxes.filter((b) => b.checked).length;
  for (const b of boxes) b.closest(".thumb").classList.toggle("selected", b.checked);
  const bar = document.querySelector("[data-selection-bar]");
  if (!bar) return;
  bar.classList.toggle("active", n > 0);
  bar.querySelector("[data-selection-count]").textContent = `${n} selected`;
  document.querySelector("#grid")?.classList.toggle("selecting", n > 0);
}

function toggle(box, event) {
  const boxes = checkboxes();
  const to = box.checked;
  if (event.shiftKey && lastClicked) {
    const from = boxes.findIndex((b) => b.value === lastClicked);
    const at = boxes.indexOf(box);
    if (from >= 0 && at >= 0) {
      const [lo, hi] = from < at ? [from, at] : [at, from];
      for (const b of boxes.slice(lo, hi + 1)) b.checked = to;
    }
  }
  lastClicked = box.value;
  refreshSelection();
}

document.addEventListener("click", (event) => {
  const target = event.target;
  if (!(target instanceof Element)) return;

  const box = target.closest(".thumb-check");
  if (box) { toggle(box, event); return; }

  // While something is selected (or with shift/ctrl), a click on a tile selects instead of opening it.
  const tile = target.closest("#grid .thumb");
  if (tile && target.closest(".thumb-open")) {
    const anySelected = checkboxes().some((b) => b.checked);
    if (anySelected || event.shiftKey || event.ctrlKey || event.metaKey) {
      event.preventDefault();
      event.stopPropagation();
      const b = tile.querySelector(".thumb-check");
      b.checked = !b.checked;
      toggle(b, event);
      return;
    }
  }

  if (target.closest("[data-select-all]")) { for (const b of checkboxes()) b.checked = true; refreshSelection(); return; }
  if (target.closest("[data-select-none]")) { for (const b of checkboxes()) b.checked = false; lastClicked = null; refreshSelection(); return; }

  const confirmer = target.closest("[data-confirm]");
  if (confirmer && !window.confirm(confirmer.dataset.confirm)) { event.preventDefault(); event.stopPropagation(); return; }

  if (target.closest("[data-close-dialog]")) {
    const dialog = target.closest("dialog");
    if (dialog) dialog.close(); else history.back();
  }
}, true);

// htmx: open the image dialog once its panel arrives; keep the selection look after grid swaps.
document.addEventListener("htmx:afterSwap", (event) => {
  const dialog = document.getElementById("image-dialog");
  if (dialog && event.detail.target === dialog && !dialog.open) dialog.showModal();
  refreshSelection();
});

// Closing the dialog after tagging there: refresh the workspace so counts and filters are right.
document.getElementById("image-dialog")?.addEventListener("close", (event) => {
  const dialog = event.target;
  if (dialog.dataset.changed && window.htmx) {
    window.htmx.ajax("GET", window.location.href, { target: "#workspace", swap: "outerHTML" });
  }
  delete dialog.dataset.changed;
  dialog.replaceChildren();
});
document.addEventListener("htmx:afterRequest", (event) => {
  const dialog = document.getElementById("image-dialog");
  if (dialog && dialog.open && dialog.contains(event.detail.elt) && event.detail.requestConfig.verb === "post") {
    dialog.dataset.changed = "1";
  }
});

// ← / → step through images while the dialog (or the image page) shows one. Added once, here at the
// top level: the panel is looked up on each press, so selections and swaps need no new listener.
document.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
  const link = document.querySelector(`#image-panel [data-key="${event.key}"]`);
  if (!link) return;
  event.preventDefault();
  // htmx wires up swapped-in links only when the swap settles (~20 ms later); a press inside that window
  // would follow the plain href and leave the dialog, so make sure this link is htmx's first.
  window.htmx?.process(link);
  link.click();
});

refreshSelection();
