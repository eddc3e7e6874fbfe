// What both labeling screens share: the "?" overlay, ←/→ and G navigation that waits for pending
// saves, the toolbar links doing the same, and the walk's count with its "All done" end (walk.js).
//
// ← returns to the image we came from even when it has left the filter meanwhile (tagged while
// walking "Untagged"): each → leaves a trail in sessionStorage that ← follows first.

import { setupWalk } from "./walk.js";

const imageIdOf = (url) => url && new URL(url, window.location.href).pathname.match(/\/images\/([0-9a-f-]{36})\//)?.[1];

function trailTo(imageId) {
  try { return sessionStorage.getItem(`tagsight:came-from:${imageId}`); } catch { return null; }
}

function leaveTrail(fromUrl, toUrl) {
  try { sessionStorage.setItem(`tagsight:came-from:${imageIdOf(toUrl)}`, fromUrl); } catch { /* storage off */ }
}

export const isTyping = (target) => target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]");

export function setupPage({ saver, help = document.getElementById("help") }) {
  const nextLink = document.getElementById("next-image");
  const previousLink = document.getElementById("previous-image");
  const gridLink = document.getElementById("back-to-grid");

  const here = imageIdOf(window.location.href);
  const cameFrom = trailTo(here);
  if (previousLink && cameFrom && imageIdOf(cameFrom) !== here) {
    previousLink.href = cameFrom;
    previousLink.classList.remove("disabled");
    previousLink.removeAttribute("aria-disabled");
  }

  const walk = setupWalk();
  const helpOpen = () => !help.hidden;
  const toggleHelp = (show = !helpOpen()) => {
    help.hidden = !show;
    if (show) help.querySelector("[data-close]").focus();
  };
  help.addEventListener("click", (event) => {
    if (event.target === help || event.target.closest("[data-close]")) toggleHelp(false);
  });
  document.getElementById("help-button")?.addEventListener("click", () => toggleHelp(true));

  async function go(url) {
    if (!url) return;
    if (nextLink && url === nextLink.href) leaveTrail(window.location.href, url);
    if (saver.pending) saver.show("saving", "Saving before moving on…");
    await saver.idle();
    window.location.href = url;
  }
  for (const link of [nextLink, previousLink, gridLink]) {
    link?.addEventListener("click", (event) => {
      if (!link.href) { event.preventDefault(); return; }
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      go(link.href);
    });
  }

  /** Handles the shared keys; returns true when the key was used. */
  function onKey(event) {
    if (helpOpen()) {
      if (event.key === "Escape" || event.key === "?") { event.preventDefault(); toggleHelp(false); }
      return true;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return false;
    switch (event.key) {
      case "?": event.preventDefault(); toggleHelp(true); return true;
      case "ArrowRight":
        event.preventDefault();
        if (nextLink?.getAttribute("href")) go(nextLink.href); else walk.finish(); // the last image: "All done"
        return true;
      case "ArrowLeft": event.preventDefault(); go(previousLink?.getAttribute("href") && previousLink.href); return true;
      case "g": case "G": event.preventDefault(); go(gridLink?.href); return true;
      default: return false;
    }
  }
  return { onKey, go };
}
