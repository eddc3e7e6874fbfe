// Undo/redo over the session's edits to one image. Each entry is a pair of region snapshots
// (before, after): null before = a create, null after = a delete. Kept in sessionStorage so the
// history of an image survives a reload or a trip to the next image and back in this tab.

export class History {
  constructor(key, apply) {
    this.key = `tagsight:history:${key}`;
    this.apply = apply; // (from, to) => void: makes the change locally and saves it
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(this.key)); } catch { /* storage off */ }
    this.done = saved?.done ?? [];
    this.undone = saved?.undone ?? [];
  }

  record(before, after) {
    this.done.push({ before, after });
    this.undone = [];
    this.persist();
  }

  undo() {
    const entry = this.done.pop();
    if (!entry) return false;
    this.apply(entry.after, entry.before);
    this.undone.push(entry);
    this.persist();
    return true;
  }

  redo() {
    const entry = this.undone.pop();
    if (!entry) return false;
    this.apply(entry.before, entry.after);
    this.done.push(entry);
    this.persist();
    return true;
  }

  clear() {
    this.done = [];
    this.undone = [];
    this.persist();
  }

  persist() {
    try {
      sessionStorage.setItem(this.key, JSON.stringify({ done: this.done.slice(-200), undone: this.undone.slice(-200) }));
    } catch { /* storage full or off: history stays in memory */ }
  }
}
