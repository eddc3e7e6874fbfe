// Zoom (wheel, +/-) and pan (space+drag, middle drag) of the canvas inside the stage, by CSS transform.
// The canvas keeps the display rendition's size in CSS pixels; boxes inside it are in % so they follow.

export class Viewport {
  constructor(stage, canvas, { naturalWidth, onChange = () => {} }) {
    this.stage = stage;
    this.canvas = canvas;
    this.naturalWidth = naturalWidth; // the original image's width, for the "100%" read-out
    this.onChange = onChange;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.fitted = true;
    stage.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.zoomAt(event.clientX, event.clientY, Math.exp(-event.deltaY * 0.0015));
    }, { passive: false });
    new ResizeObserver(() => { if (this.fitted) this.fit(); }).observe(stage);
  }

  get fitScale() {
    const pad = 24;
    const w = this.canvas.offsetWidth, h = this.canvas.offsetHeight;
    return Math.min((this.stage.clientWidth - pad) / w, (this.stage.clientHeight - pad) / h);
  }

  fit() {
    this.scale = this.fitScale;
    this.tx = (this.stage.clientWidth - this.canvas.offsetWidth * this.scale) / 2;
    this.ty = (this.stage.clientHeight - this.canvas.offsetHeight * this.scale) / 2;
    this.fitted = true;
    this.render();
  }

  zoomAt(clientX, clientY, factor) {
    const rect = this.stage.getBoundingClientRect();
    const x = clientX - rect.left, y = clientY - rect.top;
    const next = Math.min(Math.max(this.scale * factor, this.fitScale * 0.5), 32);
    const k = next / this.scale;
    this.tx = x - (x - this.tx) * k;
    this.ty = y - (y - this.ty) * k;
    this.scale = next;
    this.fitted = false;
    this.render();
  }

  zoomCentre(factor) {
    const rect = this.stage.getBoundingClientRect();
    this.zoomAt(rect.left + rect.width / 2, rect.top + rect.height / 2, factor);
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.fitted = false;
    this.render();
  }

  render() {
    this.canvas.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    this.canvas.style.setProperty("--inv", String(1 / this.scale));
    this.onChange(this);
  }

  /** Percentage of the original image's pixels now shown per screen pixel. */
  get percent() {
    return Math.round((100 * this.scale * this.canvas.offsetWidth) / this.naturalWidth);
  }
}
