// Quick Test and the Predictions tab: drop / paste / pick an image, and the probability slider over boxes.
(function () {
  "use strict";

  function form() { return document.getElementById("qt-form"); }

  function submitFile(files) {
    const f = form();
    if (!f || !files || !files.length) return;
    const input = f.querySelector("#qt-file");
    const dt = new DataTransfer();
    dt.items.add(files[0]);
    input.files = dt.files;
    f.querySelector("#qt-url").value = "";
    f.requestSubmit();
  }

  document.addEventListener("change", function (e) {
    if (e.target.id === "qt-iteration") {  // its own validation samples
      const url = new URL(window.location.href);
      url.searchParams.set("iteration", e.target.value);
      window.location.assign(url.toString());
      return;
    }
    if (e.target.id === "qt-file" && e.target.files.length) {
      form().querySelector("#qt-url").value = "";
      form().requestSubmit();
    }
  });

  document.addEventListener("click", function (e) {
    const f = form();
    if (!f) return;
    const sample = e.target.closest(".qt-sample");
    if (sample || e.target.id === "qt-url-go") {
      f.querySelector("#qt-file").value = "";  // the chosen source is the only one sent
      if (sample) f.querySelector("#qt-url").value = "";
    }
  });

  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (e) {
      const drop = e.target.closest && e.target.closest("#qt-drop");
      if (!drop) return;
      e.preventDefault();
      drop.classList.add("over");
    });
  });
  document.addEventListener("dragleave", function (e) {
    const drop = e.target.closest && e.target.closest("#qt-drop");
    if (drop) drop.classList.remove("over");
  });
  document.addEventListener("drop", function (e) {
    const drop = e.target.closest && e.target.closest("#qt-drop");
    if (!drop) return;
    e.preventDefault();
    drop.classList.remove("over");
    submitFile(e.dataTransfer.files);
  });
  document.addEventListener("paste", function (e) {
    if (!form() || !e.clipboardData) return;
    const files = Array.from(e.clipboardData.files || []).filter(function (f) { return f.type.startsWith("image/"); });
    if (files.length) { e.preventDefault(); submitFile(files); }
  });

  // Boxes: hide those under the threshold (and untick them in the correction form) as the slider moves.
  function applyThreshold(view) {
    const slider = view.querySelector("[data-box-slider]");
    if (!slider) return;
    const t = parseFloat(slider.value);
    let shown = 0;
    view.querySelectorAll(".pbox").forEach(function (box) {
      const keep = parseFloat(box.dataset.p) >= t;
      box.hidden = !keep;
      if (keep) shown += 1;
    });
    const out = view.querySelector("[data-box-threshold]");
    if (out) out.textContent = Math.round(t * 100) + "%";
    const count = view.querySelector("[data-box-count]");
    if (count) count.textContent = shown + " box" + (shown === 1 ? "" : "es") + " shown";
    const scope = view.closest("[data-box-scope]") || document;
    scope.querySelectorAll("input[data-keep]").forEach(function (cb) {
      cb.checked = parseFloat(cb.dataset.p) >= t;
      const row = cb.closest("tr");
      if (row) row.classList.toggle("dropped", !cb.checked);
    });
    splitRows(scope);
  }

  // The correction form lists kept boxes; the others wait in "Show N below threshold" (in their original order).
  function splitRows(scope) {
    const kept = scope.querySelector('tbody[data-rows="kept"]');
    const below = scope.querySelector('tbody[data-rows="below"]');
    if (!kept || !below) return;
    const none = kept.querySelector("[data-none-kept]");
    const rows = Array.from(scope.querySelectorAll("tr[data-box-row]"));
    rows.sort(function (a, b) { return a.dataset.index - b.dataset.index; });
    let under = 0;
    rows.forEach(function (row) {
      const keep = row.querySelector("input[data-keep]").checked;
      if (keep) kept.insertBefore(row, none); else { below.append(row); under += 1; }
    });
    if (none) none.hidden = rows.length > under;
    const details = below.closest("details");
    details.hidden = under === 0;
    details.querySelector("[data-below-count]").textContent = under;
  }
  document.addEventListener("input", function (e) {
    if (e.target.matches("[data-box-slider]")) applyThreshold(e.target.closest(".boxes-view"));
  });
  // A kept / dropped box in the correction form shows or hides its rectangle.
  document.addEventListener("change", function (e) {
    if (!e.target.matches("input[data-keep]")) return;
    const box = document.querySelector('.pbox[data-index="' + e.target.dataset.index + '"]');
    if (box) box.hidden = !e.target.checked;
    const row = e.target.closest("tr");
    if (row) row.classList.toggle("dropped", !e.target.checked);
  });
  function init(root) { (root || document).querySelectorAll(".boxes-view").forEach(applyThreshold); }
  document.addEventListener("DOMContentLoaded", function () { init(); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target); });
})();
