// Keyboard movement over the Suggested tags cards: pure functions, tested in tests/js/suggest.test.mjs.

/** The card index an arrow key moves to. ``rows`` lists each card's row start (its offsetTop, or any number that
 *  is equal for cards on one line); Up/Down go to the nearest column on the previous/next line. */
export function moveIndex(index, key, tops) {
  const count = tops.length;
  if (!count) return -1;
  if (index < 0 || index >= count) return 0;
  if (key === "ArrowRight") return Math.min(count - 1, index + 1);
  if (key === "ArrowLeft") return Math.max(0, index - 1);
  if (key === "Home") return 0;
  if (key === "End") return count - 1;
  if (key !== "ArrowDown" && key !== "ArrowUp") return index;
  const lines = [...new Set(tops)].sort((a, b) => a - b);
  const line = lines.indexOf(tops[index]);
  const target = lines[line + (key === "ArrowDown" ? 1 : -1)];
  if (target === undefined) return index;
  const column = tops.slice(0, index).filter((t) => t === tops[index]).length;
  const onTarget = tops.map((t, i) => [t, i]).filter(([t]) => t === target).map(([, i]) => i);
  return onTarget[Math.min(column, onTarget.length - 1)];
}

/** The option (tag id) a number key picks among a card's "Correct to…" options: [{value, hotkey}]. */
export function hotkeyOption(options, key) {
  return options.find((o) => o.hotkey !== "" && String(o.hotkey) === key)?.value ?? null;
}
