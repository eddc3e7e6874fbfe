// Box geometry in normalised image coordinates for the labeler (the server validates with labeling/geometry.py).

export const MIN_BOX_PX = 2;
const clamp01 = (v) => Math.min(1, Math.max(0, v));

/** The box spanned by two corners in any order, clamped to the image. */
export function boxFromPoints(x0, y0, x1, y1) {
  const left = clamp01(Math.min(x0, x1)), top = clamp01(Math.min(y0, y1));
  const right = clamp01(Math.max(x0, x1)), bottom = clamp01(Math.max(y0, y1));
  return { left, top, width: right - left, height: bottom - top };
}

/** The box shifted by (dx, dy), kept whole inside the image. */
export function moveBox(box, dx, dy) {
  return {
    ...box,
    left: Math.min(Math.max(0, box.left + dx), 1 - box.width),
    top: Math.min(Math.max(0, box.top + dy), 1 - box.height),
  };
}

/** The box with the edges named by handle (n, s, e, w or a corner) moved to point (x, y), clamped. */
export function resizeBox(box, handle, x, y, minW, minH) {
  let x0 = box.left, y0 = box.top, x1 = box.left + box.width, y1 = box.top + box.height;
  if (handle.includes("w")) x0 = Math.min(clamp01(x), x1 - minW);
  if (handle.includes("e")) x1 = Math.max(clamp01(x), x0 + minW);
  if (handle.includes("n")) y0 = Math.min(clamp01(y), y1 - minH);
  if (handle.includes("s")) y1 = Math.max(clamp01(y), y0 + minH);
  return boxFromPoints(x0, y0, x1, y1);
}

/** True when the box is under MIN_BOX_PX on a side, drawn at widthPx × heightPx. */
export function tooSmall(box, widthPx, heightPx) {
  return box.width * widthPx < MIN_BOX_PX || box.height * heightPx < MIN_BOX_PX;
}

export function contains(box, x, y) {
  return x >= box.left && x <= box.left + box.width && y >= box.top && y <= box.top + box.height;
}

/** The id of the smallest box containing (x, y), so a box nested in a bigger one stays reachable; null if none. */
export function boxAt(boxes, x, y) {
  let best = null;
  for (const b of boxes) {
    if (contains(b, x, y) && (!best || b.width * b.height <= best.width * best.height)) best = b;
  }
  return best?.id ?? null;
}

export function sameBox(a, b) {
  return ["left", "top", "width", "height"].every((k) => Math.abs(a[k] - b[k]) < 1e-6);
}
