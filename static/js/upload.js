// Drag-and-drop uploader: many files, a progress bar each, 3 uploads in flight, one result per file.
// Plain ES module, no build step. Each file is its own XHR (fetch has no upload progress events),
// so one bad file never sinks the batch and every file ends as Stored, Duplicate or Rejected (why).

import { csrfToken } from "./csrf.js";

const PARALLEL = 3;

const form = document.querySelector("[data-uploader]");
if (form) setUp(form);

function setUp(form) {
  const zone = form.querySelector("[data-dropzone]");
  const input = form.querySelector("[data-file-input]");
  const list = document.querySelector("[data-list]");
  const start = form.querySelector("[data-start]");
  const summary = form.querySelector("[data-summary]");
  const maxBytes = Number(form.dataset.maxBytes || 0);
  const pending = [];
  const totals = { OK: 0, dup: 0, err: 0 };
  let running = 0;

  const label = () => {
    start.textContent = pending.length ? `Upload ${pending.length} file${pending.length === 1 ? "" : "s"}` : "Upload files";
    start.disabled = pending.length === 0;
  };

  function add(files) {
    for (const file of files) {
      const row = document.createElement("li");
      row.className = "upload-item waiting";
      row.innerHTML = `<span class="upload-name"></span><span class="upload-size muted"></span>
        <progress max="100" value="0"></progress><span class="upload-status">Waiting</span>`;
      row.querySelector(".upload-name").textContent = file.name;
      row.querySelector(".upload-size").textContent = `${(file.size / 1e6).toFixed(1)} MB`;
      list.append(row);
      const item = { file, row };
      if (maxBytes && file.size > maxBytes) {
        finish(item, "err", `Rejected: the file is larger than ${+(maxBytes / 2 ** 20).toFixed(1)} MB`);
        continue;
      }
      pending.push(item);
    }
    label();
  }

  function finish(item, kind, text) {
    item.row.className = `upload-item ${kind}`;
    item.row.querySelector(".upload-status").textContent = text;
    item.row.querySelector("progress").value = 100;
    totals[kind] += 1;
    summary.textContent = `${totals.OK} stored · ${totals.dup} duplicate${totals.dup === 1 ? "" : "s"} · ${totals.err} rejected`;
  }

  function send(item, tagIds) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("file", item.file, item.file.name);
      for (const id of tagIds) data.append("tags", id);
      const xhr = new XMLHttpRequest();
      const bar = item.row.querySelector("progress");
      item.row.className = "upload-item sending";
      item.row.querySelector(".upload-status").textContent = "Uploading…";
      xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 95); });
      xhr.addEventListener("load", () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch { body = { ok: false, message: `Server error (${xhr.status})` }; }
        if (body.thumbnail_url) {
          const img = document.createElement("img");
          img.src = body.thumbnail_url;
          img.alt = "";
          item.row.querySelector(".upload-name").prepend(img);
        }
        if (body.status === "OK") finish(item, "OK", "Stored");
        else if (body.ok) finish(item, "dup", "Duplicate — already in the project");
        else finish(item, "err", `Rejected: ${body.message || body.status || xhr.statusText}`);
        resolve();
      });
      xhr.addEventListener("error", () => { finish(item, "err", "Rejected: network error"); resolve(); });
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.send(data);
    });
  }

  async function worker(tagIds) {
    for (let item = pending.shift(); item; item = pending.shift()) {
      label();
      await send(item, tagIds);
    }
  }

  async function run() {
    if (running) return;
    const tagIds = [...form.querySelectorAll("#tag-picker input[name=tags]:checked")].map((b) => b.value).filter(Boolean);
    running = Math.min(PARALLEL, pending.length);
    form.classList.add("busy");
    await Promise.all(Array.from({ length: running }, () => worker(tagIds)));
    running = 0;
    form.classList.remove("busy");
    label();
    const done = document.querySelector("[data-done]");
    if (done) {
      const q = tagIds.map((id) => `tag=${encodeURIComponent(id)}`).join("&");
      done.href = form.dataset.gridUrl + (q ? `?${q}` : "");
      done.classList.add("primary");
      done.textContent = "View images";
    }
    // The next batch starts from what the user chooses for it, not from this batch's tags.
    for (const box of form.querySelectorAll("#tag-picker input[name=tags]")) box.checked = box.hasAttribute("data-no-tag");
    form.dispatchEvent(new CustomEvent("upload:done", { bubbles: true, detail: { ...totals } }));
  }

  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  for (const type of ["dragleave", "dragend"]) zone.addEventListener(type, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer?.files?.length) add(e.dataTransfer.files);
  });
  // Dropping next to the zone must not navigate away to the file.
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
  form.addEventListener("submit", (e) => { e.preventDefault(); run(); });
  // Enter in "New tag" adds the tag, it does not start the upload.
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target.matches("[data-new-tag]")) { e.preventDefault(); form.querySelector("[data-add-tag]")?.click(); }
  });
  label();
}
