// The count of a labeling walk ("3 of 10") and its end ("All done").
//
// The server counts the image's place in the filter as it is now. Walking "Untagged", each tagged image leaves
// the filter, so every next image would be "1 of N" again. A walk remembers what it showed instead (in
// sessionStorage, per tab): arriving by → from "k of N" shows "k+1 of N"; coming back (←, reload) shows what
// that image showed before. A walk starts over whenever a labeling page is reached from elsewhere (the grid).

const KEY = "tagsight:walk";
const imageIdOf = (url) => url && new URL(url, window.location.href).pathname.match(/\/images\/([0-9a-f-]{36})\/label\//)?.[1];

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
}

function save(walk) {
  try { sessionStorage.setItem(KEY, JSON.stringify(walk)); } catch { /* storage off: the server's count */ }
}

export function setupWalk() {
  const count = document.querySelector("#progress [data-position]");
  const done = document.getElementById("all-done");
  const here = imageIdOf(window.location.href);
  if (!count || !here) return { finish() {} };
  const server = [Number(count.dataset.position), Number(count.dataset.total)];
  const from = imageIdOf(document.referrer); // a labeling page of this tab's walk, or not
  let walk = load();
  if (!from || !walk || walk.filter !== window.location.search) walk = { filter: window.location.search, steps: {} };
  const previous = walk.steps[from];
  const shown = walk.steps[here] || (previous ? [previous[0] + 1, Math.max(previous[1], previous[0] + 1)] : server);
  walk.steps[here] = shown;
  save(walk);
  count.textContent = `${shown[0]} of ${shown[1]}`;
  done.querySelector("[data-walk-total]").textContent = shown[1];

  function finish() {
    done.hidden = false;
    done.querySelector("a").focus({ preventScroll: true });
  }
  document.getElementById("finish-walk")?.addEventListener("click", finish);
  return { finish };
}
