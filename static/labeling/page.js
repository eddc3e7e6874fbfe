// What both labeling screens share: the "?" overlay, ←/→ and G navigation that waits for pending
// saves, and the toolbar links doing the same.

export const isTyping = (target) => target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]");

export function setupPage({ saver, help = document.getElementById("help") }) {
  const nextLink = document.getElementById("next-image");
  const previousLink = document.getElementById("previous-image");
  const gridLink = document.getElementById("back-to-grid");

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
    if (saver.pending) saver.show("saving", "Saving before moving on…");
    await saver.idle();
    window.location.href = url;
  }
  for (const link of [nextLink, previousLink, gridLink]) {
    link?.addEventListener("click", (event) => {
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
      case "ArrowRight": event.preventDefault(); go(nextLink?.href); return true;
      case "ArrowLeft": event.preventDefault(); go(previousLink?.href); return true;
      case "g": case "G": event.preventDefault(); go(gridLink?.href); return true;
      default: return false;
    }
  }
  return { onKey, go };
}
