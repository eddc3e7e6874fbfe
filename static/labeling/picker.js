// The tag picker that opens at a box: type to filter, ↑/↓ to choose, Enter to pick (or create the
// typed tag), a digit on an empty field picks that hotkey, Escape cancels.

export class TagPicker {
  constructor(root, { tags, createTag }) {
    this.root = root;
    this.input = root.querySelector("input");
    this.list = root.querySelector("ul");
    this.error = root.querySelector(".picker-error");
    this.tags = tags; // () => [{id, name, color, hotkey}]
    this.createTag = createTag; // async (name) => tag
    this.active = 0;
    this.handlers = null;
    this.input.addEventListener("input", () => { this.active = 0; this.renderList(); });
    this.input.addEventListener("keydown", (event) => this.onKey(event));
    this.list.addEventListener("mousedown", (event) => {
      const item = event.target.closest("li");
      if (!item) return;
      event.preventDefault();
      this.choose(Number(item.dataset.index));
    });
  }

  get isOpen() { return !this.root.hidden; }

  /** Opens at (x, y) in stage pixels; onPick(tagId) or onCancel() is called exactly once. */
  open(x, y, { onPick, onCancel, current = null }) {
    this.handlers = { onPick, onCancel };
    this.input.value = "";
    this.error.hidden = true;
    const tags = this.tags();
    this.active = Math.max(0, tags.findIndex((t) => t.id === current));
    this.root.hidden = false;
    this.renderList();
    const stage = this.root.parentElement;
    const maxX = stage.clientWidth - this.root.offsetWidth - 8, maxY = stage.clientHeight - this.root.offsetHeight - 8;
    this.root.style.left = `${Math.max(8, Math.min(x, maxX))}px`;
    this.root.style.top = `${Math.max(8, Math.min(y, maxY))}px`;
    this.input.focus();
  }

  close() {
    this.root.hidden = true;
    this.handlers = null;
  }

  cancel() {
    const handlers = this.handlers;
    this.close();
    handlers?.onCancel?.();
  }

  entries() {
    const query = this.input.value.trim();
    const q = query.toLowerCase();
    const entries = this.tags().filter((t) => t.name.toLowerCase().includes(q)).map((tag) => ({ tag }));
    if (query && !this.tags().some((t) => t.name.toLowerCase() === q)) entries.push({ create: query });
    return entries;
  }

  renderList() {
    const entries = this.entries();
    this.active = Math.min(this.active, Math.max(0, entries.length - 1));
    this.list.replaceChildren(...entries.map((entry, index) => {
      const li = document.createElement("li");
      li.dataset.index = String(index);
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(index === this.active));
      if (entry.tag) {
        li.style.setProperty("--c", entry.tag.color);
        li.innerHTML = '<span class="swatch"></span><span class="tag-name"></span><kbd></kbd>';
        li.querySelector(".tag-name").textContent = entry.tag.name;
        const kbd = li.querySelector("kbd");
        if (entry.tag.hotkey) kbd.textContent = entry.tag.hotkey; else kbd.remove();
      } else {
        li.className = "create";
        li.textContent = `Create tag “${entry.create}”`;
      }
      return li;
    }));
    if (!entries.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "Type a name to create a tag";
      this.list.append(li);
    }
  }

  onKey(event) {
    const entries = this.entries();
    if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); this.cancel(); return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + entries.length) % Math.max(1, entries.length);
      this.renderList();
      return;
    }
    if (event.key === "Enter") { event.preventDefault(); this.choose(this.active); return; }
    if (/^[1-9]$/.test(event.key) && !this.input.value) {
      const tag = this.tags().find((t) => String(t.hotkey) === event.key);
      if (tag) { event.preventDefault(); this.pick(tag.id); }
    }
    event.stopPropagation(); // typing here never triggers the page's shortcuts
  }

  async choose(index) {
    const entry = this.entries()[index];
    if (!entry) return;
    if (entry.tag) { this.pick(entry.tag.id); return; }
    try {
      const tag = await this.createTag(entry.create);
      this.pick(tag.id);
    } catch (error) {
      this.error.textContent = error.message;
      this.error.hidden = false;
    }
  }

  pick(tagId) {
    const handlers = this.handlers;
    this.close();
    handlers?.onPick?.(tagId);
  }
}
