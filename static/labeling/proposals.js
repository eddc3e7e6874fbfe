// Region proposals (the Smart Labeler's boxes) as the labeler shows them: pure functions, tested in tests/js/.

/** Intersection over union of two normalised boxes. */
export function iou(a, b) {
  const w = Math.max(0, Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left));
  const h = Math.max(0, Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top));
  const inter = w * h;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** The API's proposals ({confidence, boundingBox}) as boxes with ids, most confident first, leaving out those
 *  that cover a box already drawn (IoU >= overlap); at most ``limit`` (more would bury the image in dashes). */
export function freshProposals(proposals, regions, overlap = 0.5, limit = 8) {
  const drawn = [...regions];
  return proposals
    .map((p, i) => ({ id: `proposal-${i}`, confidence: p.confidence, ...p.boundingBox }))
    .filter((p) => p.width > 0 && p.height > 0 && !drawn.some((r) => iou(p, r) >= overlap))
    .sort((a, b) => b.confidence - a.confidence)
    .slice(0, limit);
}

/** After the proposal ``id`` is accepted or rejected: the list without it and the id to focus next (the one that
 *  took its place, else the one before, else null). */
export function withoutProposal(list, id) {
  const i = list.findIndex((p) => p.id === id);
  if (i < 0) return { list, next: list[0]?.id ?? null };
  const rest = [...list.slice(0, i), ...list.slice(i + 1)];
  return { list: rest, next: (rest[i] ?? rest[i - 1])?.id ?? null };
}
