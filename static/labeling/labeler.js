// The object detection labeler: draw, select, move, resize, retag and delete boxes; zoom and pan;
// every edit saved at once (saver.js) and undoable (history.js). Boxes live in normalised [0, 1]
// coordinates, as the server stores them; the DOM draws them as % of the canvas.

import { boxAt, boxFromPoints, contains, moveBox, resizeBox, sameBox, tooSmall } from "./geometry.js";
import { History } from "./history.js";
import { freshProposals, withoutProposal } from "./proposals.js";
import { setupPage, isTyping } from "./page.js";
import { TagPicker } from "./picker.js";
import { csrfToken } from "../js/csrf.js";
import { Saver } from "./saver.js";
import { Viewport } from "./viewport.js";

const root = document.getElementById("labeler");
// A Viewer's labeler is read-only (the server refuses their edits with 403 anyway): look, zoom, walk; no edits.
const readOnly = root.dataset.readonly === "true";
const stage = document.getElementById("stage");
const canvas = document.getElementById("canvas");
const layer = document.getElementById("boxes");
const stickyLabel = document.getElementById("sticky-tag");
const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
const COORDS = ["left", "top", "width", "height"];

const urls = {
  create: root.dataset.createUrl,
  list: root.dataset.listUrl,
  proposals: root.dataset.proposalsUrl,
  tagCreate: root.dataset.tagCreateUrl,
  update: (id) => root.dataset.updateUrl.replace("00000000-0000-0000-0000-000000000000", id),
  delete: (id) => root.dataset.deleteUrl.replace("00000000-0000-0000-0000-000000000000", id),
};

let regions = readRegions(document);
let tags = readTags(document);
let selected = null; // region id
let sticky = null; // tag id given to new boxes without asking
let drag = null;
let spaceDown = false;
// The Smart Labeler's proposed boxes (dashed until accepted): Enter accepts the focused one, Delete rejects it.
let proposals = [];
let focusedProposal = null; // proposal id

function readRegions(scope) {
  const map = new Map();
  for (const li of scope.querySelectorAll("#region-list li[data-region-id]")) {
    const r = { id: li.dataset.regionId, tag: li.dataset.tagId };
    for (const k of COORDS) r[k] = Number(li.dataset[k]);
    map.set(r.id, r);
  }
  return map;
}

function readTags(scope) {
  return [...scope.querySelectorAll("#tag-list .tag-choice")].map((b) => ({
    id: b.dataset.tagId, name: b.dataset.name, color: b.dataset.color, hotkey: b.dataset.hotkey ? Number(b.dataset.hotkey) : null,
  }));
}

const tagById = (id) => tags.find((t) => t.id === id);

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16)); // http:// on a LAN has no randomUUID
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---- saving -------------------------------------------------------------------------------------

function swapFragment(html, id) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const fresh = doc.getElementById(id);
  if (fresh) document.getElementById(id).replaceWith(fresh);
}

const saver = new Saver({
  statusEl: document.getElementById("save-status"),
  retryButton: document.getElementById("save-retry"),
  onRejected: resync,
});

async function resync() {
  // The server refused a change: take its state as the truth again (this image's undo history is dropped).
  try {
    const response = await fetch(urls.list, { headers: { "HX-Request": "true" } });
    const html = await response.text();
    swapFragment(html, "region-list");
    regions = readRegions(document);
    changes.clear();
    if (selected && !regions.has(selected)) selected = null;
    render();
  } catch { /* the next save will show the connection problem */ }
}

function save(from, to) {
  const onDone = (html) => { swapFragment(html, "region-list"); markSelectedInList(); };
  if (!to) {
    saver.push({ url: urls.delete(from.id), data: {}, missingOk: true, onDone });
  } else if (!from) {
    saver.push({ url: urls.create, data: { id: to.id, tag: to.tag, ...pick(to) }, onDone });
  } else {
    saver.push({ url: urls.update(to.id), data: { tag: to.tag, ...pick(to) }, onDone });
  }
}

const pick = (r) => Object.fromEntries(COORDS.map((k) => [k, String(r[k])])); // full precision: rounding could cross 1

/** Makes a change locally and saves it: from/to are region snapshots, null for "absent". */
function apply(from, to) {
  if (to) regions.set(to.id, { ...to }); else regions.delete(from.id);
  if (!to && selected === from.id) selected = null;
  if (to) selected = to.id;
  save(from, to);
  render();
}

const changes = new History(root.dataset.imageId, apply);

function commit(before, after) {
  apply(before, after);
  changes.record(before, after);
}

// ---- drawing the boxes --------------------------------------------------------------------------

function place(el, box) {
  el.style.left = `${box.left * 100}%`;
  el.style.top = `${box.top * 100}%`;
  el.style.width = `${box.width * 100}%`;
  el.style.height = `${box.height * 100}%`;
}

function boxElement(region, { pending = false } = {}) {
  const el = document.createElement("div");
  const tag = tagById(region.tag);
  el.className = "box";
  el.dataset.id = region.id ?? "";
  el.style.setProperty("--c", tag?.color ?? "#0078d4");
  el.classList.toggle("pending", pending);
  const isSelected = region.id != null && region.id === selected;
  el.classList.toggle("selected", isSelected);
  const label = document.createElement("span");
  label.className = "box-label";
  label.textContent = tag?.name ?? (pending ? "Pick a tag…" : "");
  el.append(label);
  if (isSelected) {
    for (const h of HANDLES) {
      const handle = document.createElement("span");
      handle.className = `handle handle-${h}`;
      handle.dataset.handle = h;
      el.append(handle);
    }
  }
  place(el, region);
  return el;
}

function proposalElement(p) {
  const el = document.createElement("div");
  el.className = "proposal"; // not a .box: it is no region until accepted
  el.dataset.proposalId = p.id;
  el.classList.toggle("focused", p.id === focusedProposal && !selected);
  const label = document.createElement("span");
  label.className = "box-label";
  label.textContent = `Proposed ${Math.round(p.confidence * 100)}%`;
  el.append(label);
  place(el, p);
  return el;
}

function renderProposalHint() {
  const hint = document.getElementById("proposal-hint");
  if (!hint) return;
  hint.hidden = proposals.length === 0;
  hint.querySelector("[data-count]").textContent = String(proposals.length);
}

function render() {
  const els = [...proposals].reverse().map(proposalElement); // the most confident on top
  els.push(...[...regions.values()].map((r) => boxElement(r)));
  if (drag?.kind === "draw" && drag.el) els.push(drag.el);
  if (pendingBox) els.push(boxElement(pendingBox, { pending: true }));
  layer.replaceChildren(...els);
  renderProposalHint();
  markSelectedInList();
  root.classList.toggle("has-selection", Boolean(selected));
}

function markSelectedInList() {
  for (const li of document.querySelectorAll("#region-list li[data-region-id]")) {
    li.classList.toggle("selected", li.dataset.regionId === selected);
  }
}

function select(id) {
  if (id === selected) return;
  selected = id;
  render();
}

// The tag for new boxes is remembered per project (localStorage), so it survives moving to the next image.
const stickyKey = `tagsight:new-box-tag:${root.dataset.projectId}`;

function recallSticky() {
  try { return localStorage.getItem(stickyKey); } catch { return null; } // storage off: ask every time
}

function renderSticky() {
  const tag = tagById(sticky);
  stickyLabel.textContent = tag ? tag.name : "ask for a tag";
  stickyLabel.style.setProperty("--c", tag ? tag.color : "transparent"); // a swatch: the text keeps its contrast
  stickyLabel.classList.toggle("has-tag", Boolean(tag));
  for (const b of document.querySelectorAll("#tag-list .tag-choice")) {
    b.setAttribute("aria-pressed", String(b.dataset.tagId === sticky));
  }
  try {
    if (tag) localStorage.setItem(stickyKey, sticky); else localStorage.removeItem(stickyKey);
  } catch { /* storage off */ }
}

// ---- the tag picker ------------------------------------------------------------------------------

let pendingBox = null;

async function createTag(name) {
  saver.show("saving", "Creating the tag…");
  try {
    return await postTag(name); // the box's own save follows at once and reports from then on
  } catch (error) {
    if (!saver.pending) saver.show("saved", "All changes saved");
    throw error;
  }
}

async function postTag(name) {
  const response = await fetch(urls.tagCreate, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
    body: new URLSearchParams({ name }),
  });
  const text = await response.text();
  if (!response.ok) {
    let message = `Couldn't create the tag (${response.status}).`;
    try { message = JSON.parse(text).message || message; } catch { /* HTML */ }
    throw new Error(message);
  }
  swapFragment(text, "tag-list");
  tags = readTags(document);
  renderSticky();
  const created = JSON.parse(response.headers.get("HX-Trigger") || "{}").tagCreated;
  return tags.find((t) => t.id === created?.id) ?? tags.find((t) => t.name.toLowerCase() === name.toLowerCase());
}

const picker = new TagPicker(document.getElementById("picker"), { tags: () => tags, createTag });

function pickerAt(box) {
  const c = canvas.getBoundingClientRect(), s = stage.getBoundingClientRect();
  return [c.left - s.left + box.left * c.width, c.top - s.top + (box.top + box.height) * c.height + 6];
}

function askTagForNewBox(box, onCreated = () => {}) {
  pendingBox = { ...box, id: null, tag: null };
  render();
  picker.open(...pickerAt(box), {
    onPick: (tagId) => { pendingBox = null; onCreated(); createRegion(box, tagId); stage.focus({ preventScroll: true }); },
    onCancel: () => { pendingBox = null; render(); stage.focus({ preventScroll: true }); },
  });
}

function askRetag(id) {
  if (readOnly) return;
  const region = regions.get(id);
  if (!region) return;
  picker.open(...pickerAt(region), {
    current: region.tag,
    onPick: (tagId) => { retag(id, tagId); stage.focus({ preventScroll: true }); },
    onCancel: () => stage.focus({ preventScroll: true }),
  });
}

// ---- edits ---------------------------------------------------------------------------------------

function createRegion(box, tagId) {
  commit(null, { id: newId(), tag: tagId, left: box.left, top: box.top, width: box.width, height: box.height });
}

// ---- proposals ------------------------------------------------------------------------------------

async function loadProposals() {
  if (readOnly || !urls.proposals || regions.size) return; // an untagged image: its boxes are still to draw
  try {
    const response = await fetch(urls.proposals, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    proposals = freshProposals((await response.json()).proposals ?? [], regions.values());
  } catch { return; } // no proposals: the labeler works as before
  focusedProposal = proposals[0]?.id ?? null;
  render();
}

function dropProposal(id) {
  const { list, next } = withoutProposal(proposals, id);
  proposals = list;
  focusedProposal = next;
}

/** Enter on a proposal: it becomes a real box (the sticky tag, or the picker asks), selected so its handles adjust. */
function acceptProposal(id) {
  const p = proposals.find((x) => x.id === id);
  if (!p || readOnly) return;
  const box = { left: p.left, top: p.top, width: p.width, height: p.height };
  if (sticky && tagById(sticky)) { dropProposal(id); createRegion(box, sticky); }
  else askTagForNewBox(box, () => dropProposal(id));
}

function rejectProposal(id) {
  dropProposal(id);
  render();
}

function retag(id, tagId) {
  if (readOnly) return;
  const before = regions.get(id);
  if (!before || before.tag === tagId) return;
  commit({ ...before }, { ...before, tag: tagId });
}

function remove(id) {
  if (readOnly) return;
  const before = regions.get(id);
  if (before) commit({ ...before }, null);
}

// ---- pointer: draw, move, resize, pan -------------------------------------------------------------

function point(event) {
  const r = canvas.getBoundingClientRect();
  return { x: (event.clientX - r.left) / r.width, y: (event.clientY - r.top) / r.height, w: r.width, h: r.height };
}

stage.addEventListener("pointerdown", (event) => {
  if (picker.root.contains(event.target)) return;
  if (picker.isOpen) picker.cancel();
  stage.focus({ preventScroll: true });
  const p = point(event);
  const under = boxAt(regions.values(), p.x, p.y);
  const forceDraw = event.shiftKey || event.altKey;
  if (event.button === 1 || (event.button === 0 && spaceDown)) {
    drag = { kind: "pan", x: event.clientX, y: event.clientY };
    stage.classList.add("panning");
  } else if (event.button !== 0 || readOnly) {
    return;

  } else if (event.target.dataset.handle && selected) {
    drag = { kind: "resize", id: selected, handle: event.target.dataset.handle, before: { ...regions.get(selected) } };
  } else if (selected && !forceDraw && contains(regions.get(selected), p.x, p.y)) {
    // Only the selected box moves (as in CVAT and Label Studio): with overlapping objects a drag that
    // starts inside another box must draw, not drag that box away. Shift/Alt draws even here.
    drag = { kind: "move", id: selected, start: p, before: { ...regions.get(selected) }, moved: false, under };
  } else {
    // A drag draws a box; a click (endDrag) selects the smallest box under the pointer, or nothing.
    select(null);
    const el = boxElement({ id: null, tag: sticky, left: p.x, top: p.y, width: 0, height: 0 });
    el.classList.add("drawing");
    drag = { kind: "draw", start: p, el, box: null, under };
    layer.append(el);
  }
  event.preventDefault();
  stage.setPointerCapture(event.pointerId);
});

stage.addEventListener("pointermove", (event) => {
  if (!drag) return;
  if (drag.kind === "pan") {
    viewport.panBy(event.clientX - drag.x, event.clientY - drag.y);
    drag.x = event.clientX; drag.y = event.clientY;
    return;
  }
  const p = point(event);
  if (drag.id && !regions.has(drag.id)) { drag = null; return; } // resynchronised away meanwhile
  if (drag.kind === "draw") {
    drag.box = boxFromPoints(drag.start.x, drag.start.y, p.x, p.y);
    place(drag.el, drag.box);
  } else if (drag.kind === "move") {
    const dx = p.x - drag.start.x, dy = p.y - drag.start.y;
    if (!drag.moved && Math.hypot(dx * p.w, dy * p.h) < 3) return; // a click, not a move
    drag.moved = true;
    const box = moveBox(drag.before, dx, dy);
    Object.assign(regions.get(drag.id), box);
    place(layer.querySelector(`.box[data-id="${drag.id}"]`), box);
  } else if (drag.kind === "resize") {
    const box = resizeBox(drag.before, drag.handle, p.x, p.y, 2 / p.w, 2 / p.h);
    Object.assign(regions.get(drag.id), box);
    place(layer.querySelector(`.box[data-id="${drag.id}"]`), box);
  }
});

function endDrag(event, cancelled = false) {
  if (!drag) return;
  const d = drag;
  drag = null;
  stage.classList.remove("panning");
  if (stage.hasPointerCapture?.(event?.pointerId)) stage.releasePointerCapture(event.pointerId);
  if (d.kind === "draw") {
    d.el.remove();
    const r = canvas.getBoundingClientRect();
    if (cancelled || !d.box || tooSmall(d.box, r.width, r.height)) { // a click: no box, select what is under it
      if (!cancelled && regions.has(d.under)) selected = d.under;
      else if (!cancelled) focusedProposal = boxAt(proposals, d.start.x, d.start.y) ?? focusedProposal; // or highlight a proposal
      render();
      return;
    }
    if (sticky && tagById(sticky)) createRegion(d.box, sticky);
    else askTagForNewBox(d.box);
  } else if ((d.kind === "move" || d.kind === "resize") && regions.has(d.id)) {
    const after = { ...regions.get(d.id) };
    if (cancelled) { regions.set(d.id, d.before); render(); return; }
    if (!sameBox(d.before, after)) commit(d.before, after);
    else if (d.kind === "move" && regions.has(d.under)) select(d.under); // a click: a box nested in the selected one
  }
}

stage.addEventListener("pointerup", (event) => endDrag(event));
stage.addEventListener("pointercancel", (event) => endDrag(event, true));
stage.addEventListener("dblclick", (event) => {
  // With pointer capture the event targets the stage itself: the box is the one the first click selected.
  const p = point(event);
  const id = boxAt(regions.values(), p.x, p.y);
  if (id) askRetag(id);
});
stage.addEventListener("auxclick", (event) => event.preventDefault()); // middle-click paste/scroll

// ---- the side panel -------------------------------------------------------------------------------

document.querySelector(".labeler-side").addEventListener("click", (event) => {
  const item = event.target.closest("#region-list li[data-region-id]");
  if (item && event.target.closest(".region-delete")) { remove(item.dataset.regionId); stage.focus({ preventScroll: true }); return; }
  if (item) { select(item.dataset.regionId); stage.focus({ preventScroll: true }); return; }
  const choice = event.target.closest("#tag-list .tag-choice");
  if (choice) { useTag(choice.dataset.tagId); stage.focus({ preventScroll: true }); }
});

function useTag(tagId) {
  if (readOnly) return;
  if (picker.isOpen) { picker.pick(tagId); return; } // a new box waiting for its tag, or a retag
  if (selected) { retag(selected, tagId); return; }
  sticky = sticky === tagId ? null : tagId;
  renderSticky();
}

// ---- keyboard ------------------------------------------------------------------------------------

const page = setupPage({ saver });

// Keys a focused control uses itself: Space and Enter press a button or follow a link, Tab moves on.
const CONTROL_KEYS = new Set([" ", "Enter", "Tab"]);
const isControl = (target) => target instanceof Element && target.closest("button, a[href], input, select, textarea, summary, [contenteditable]");

document.addEventListener("keydown", (event) => {
  if (isTyping(event.target)) return;
  if (CONTROL_KEYS.has(event.key) && isControl(event.target)) return;
  if (page.onKey(event)) return;
  const key = event.key;
  const mod = event.ctrlKey || event.metaKey;
  if (mod && (key === "z" || key === "Z")) {
    event.preventDefault();
    if (event.shiftKey) changes.redo(); else changes.undo();
    return;
  }
  if (mod && (key === "y" || key === "Y")) { event.preventDefault(); changes.redo(); return; }
  if (mod || event.altKey) return;
  if (key === " ") { spaceDown = true; stage.classList.add("pan-ready"); event.preventDefault(); return; }
  if (key === "Escape") {
    if (drag) endDrag(null, true);
    else if (selected) select(null);
    else if (focusedProposal) { focusedProposal = null; render(); }
    else if (sticky) { sticky = null; renderSticky(); }
    return;
  }
  if ((key === "Delete" || key === "Backspace") && selected) { event.preventDefault(); remove(selected); return; }
  if ((key === "Delete" || key === "Backspace") && focusedProposal) { event.preventDefault(); rejectProposal(focusedProposal); return; }
  if (key === "Enter" && !selected && focusedProposal) { event.preventDefault(); acceptProposal(focusedProposal); return; }
  if (/^[1-9]$/.test(key)) {
    const tag = tags.find((t) => String(t.hotkey) === key);
    if (tag) { event.preventDefault(); useTag(tag.id); }
    return;
  }
  if (key === "Enter" && selected) { event.preventDefault(); askRetag(selected); return; }
  if (key === "Tab" && event.target === stage && regions.size) {
    // On the image, Tab selects each box in turn; past the last (or first) it lets focus move on.
    const ids = [...regions.keys()];
    const i = ids.indexOf(selected);
    const next = i < 0 ? (event.shiftKey ? ids.length - 1 : 0) : i + (event.shiftKey ? -1 : 1);
    if (next < 0 || next >= ids.length) return;
    event.preventDefault();
    select(ids[next]);
    return;
  }
  if (key === "+" || key === "=") viewport.zoomCentre(1.25);
  else if (key === "-" || key === "_") viewport.zoomCentre(0.8);
  else if (key === "0") viewport.fit();
});

document.addEventListener("keyup", (event) => {
  if (event.key === " ") { spaceDown = false; stage.classList.remove("pan-ready"); }
});
window.addEventListener("blur", () => { spaceDown = false; stage.classList.remove("pan-ready"); });

// ---- start ---------------------------------------------------------------------------------------

const zoomLevel = document.getElementById("zoom-level");
const img = canvas.querySelector("img");
const viewport = new Viewport(stage, canvas, {
  naturalWidth: Number(root.dataset.originalWidth) || img.width,
  onChange: (v) => { zoomLevel.textContent = `${v.percent}%`; },
});
document.getElementById("zoom-fit").addEventListener("click", () => viewport.fit());
viewport.fit();
sticky = tagById(recallSticky()) ? recallSticky() : null;
renderSticky();
render();
root.dataset.ready = "true";
stage.focus({ preventScroll: true });
loadProposals().then(() => { root.dataset.proposalsReady = "true"; });
