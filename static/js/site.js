// Small behaviours any page may use, wired by data attributes (loaded by base.html on every page).
//   [data-copy="#id"]  copies the text of #id (Clipboard API, or a hidden textarea + execCommand where that API
//                      is missing: plain http on another host than localhost) and says so in its [data-copy-label].
//   [data-maxlength]   a text field's limit. Unlike maxlength, which silently cuts a paste, an over-long value is
//                      kept, marked invalid (the browser refuses the submit; htmx requests are stopped here) and
//                      explained under the field: "<data-limit-label> can be at most N characters; this one has M."

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = Object.assign(document.createElement("textarea"), { value: text, readOnly: true });
    area.style.cssText = "position: fixed; top: 0; left: 0; opacity: 0";
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    area.remove();
    return ok;
  }
}

function selectContents(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  window.getSelection().removeAllRanges();
  window.getSelection().addRange(range);
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const ok = await copyText(source.textContent);
  if (!ok) selectContents(source); // the user can still press Ctrl+C
  const label = button.querySelector("[data-copy-label]") || button;
  label.textContent = ok ? "Copied" : "Selected: press Ctrl+C";
  clearTimeout(button.copyTimer);
  button.copyTimer = setTimeout(() => { label.textContent = "Copy"; }, 2500);
});

function limitNote(input) {
  if (input.limitNote?.isConnected) return input.limitNote;
  const note = Object.assign(document.createElement("p"), { className: "field-limit error", hidden: true });
  note.id = `${input.id || input.name || "field"}-limit-${Math.random().toString(36).slice(2, 8)}`;
  note.setAttribute("aria-live", "polite");
  (input.closest(".tag-add, .tag-rename, label") || input).after(note);
  input.setAttribute("aria-describedby", note.id);
  input.limitNote = note;
  return note;
}

function checkLength(input) {
  const max = Number(input.dataset.maxlength);
  const length = input.value.trim().length; // the server strips the ends too
  const message = length > max
    ? `${input.dataset.limitLabel || "This field"} can be at most ${max} characters; this one has ${length}.`
    : "";
  input.setCustomValidity(message);
  if (!message && !input.limitNote) return;
  const note = limitNote(input);
  note.textContent = message;
  note.hidden = !message;
}

document.addEventListener("input", (event) => {
  if (event.target.matches?.("[data-maxlength]")) checkLength(event.target);
});

// hx-post on a button (the upload page's "Add tag") is not a form submit: stop it here when a field is too long.
document.addEventListener("htmx:beforeRequest", (event) => {
  const scope = event.detail.elt.closest("form, fieldset") || event.detail.elt;
  const tooLong = [...scope.querySelectorAll("[data-maxlength]")].find((input) => input.validity.customError);
  if (tooLong) {
    event.preventDefault();
    tooLong.reportValidity();
  }
});
