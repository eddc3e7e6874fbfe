// Small behaviours any page may use, wired by data attributes (loaded by base.html on every page).
//   [data-copy="#id"]  copies the text of #id (Clipboard API, or a hidden textarea + execCommand where that API
//                      is missing: plain http on another host than localhost) and says so in its [data-copy-label].

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
