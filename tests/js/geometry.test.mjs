// static/labeling/geometry.js, the labeler's box arithmetic, tested where it runs: as JavaScript.
// Run with `node --test tests/js/` (tests/js/test_node.py runs it inside pytest).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  MIN_BOX_PX, boxAt, boxFromPoints, contains, moveBox, resizeBox, sameBox, tooSmall,
} from "../../static/labeling/geometry.js";

const close = (actual, expected) => {
  for (const k of ["left", "top", "width", "height"]) {
    assert.ok(Math.abs(actual[k] - expected[k]) < 1e-9, `${k}: ${actual[k]} != ${expected[k]}`);
  }
};

test("a drag in any direction spans the same box", () => {
  const forward = boxFromPoints(0.2, 0.3, 0.6, 0.7);
  close(forward, { left: 0.2, top: 0.3, width: 0.4, height: 0.4 });
  close(boxFromPoints(0.6, 0.7, 0.2, 0.3), forward);
  close(boxFromPoints(0.6, 0.3, 0.2, 0.7), forward);
});

test("a drag past the edges is clamped to the image", () => {
  close(boxFromPoints(-0.3, 0.5, 1.4, 1.2), { left: 0, top: 0.5, width: 1, height: 0.5 });
  assert.equal(boxFromPoints(1.2, 0.1, 1.5, 0.4).width, 0); // entirely outside: nothing left
});

test("moving keeps the size and stops at the edges", () => {
  const box = { id: "a", tag: "t", left: 0.6, top: 0.6, width: 0.3, height: 0.2 };
  const moved = moveBox(box, 0.5, -1.0);
  close(moved, { left: 0.7, top: 0, width: 0.3, height: 0.2 });
  assert.equal(moved.id, "a"); // the region's other fields come along
  assert.equal(moved.tag, "t");
  close(moveBox(box, -0.1, 0.05), { left: 0.5, top: 0.65, width: 0.3, height: 0.2 });
});

test("resizing moves only the named edges, clamped, and never below the minimum size", () => {
  const box = { left: 0.2, top: 0.2, width: 0.4, height: 0.4 };
  close(resizeBox(box, "se", 0.9, 0.7, 0.01, 0.01), { left: 0.2, top: 0.2, width: 0.7, height: 0.5 });
  close(resizeBox(box, "n", 0.9, 0.1, 0.01, 0.01), { left: 0.2, top: 0.1, width: 0.4, height: 0.5 });
  close(resizeBox(box, "w", -0.5, 0.9, 0.01, 0.01), { left: 0, top: 0.2, width: 0.6, height: 0.4 });
  // Dragged past the opposite edge, the box stops at the minimum size instead of turning inside out.
  close(resizeBox(box, "e", 0.05, 0.5, 0.01, 0.01), { left: 0.2, top: 0.2, width: 0.01, height: 0.4 });
  close(resizeBox(box, "nw", 0.9, 0.9, 0.02, 0.03), { left: 0.58, top: 0.57, width: 0.02, height: 0.03 });
});

test("boxes under two pixels on a side are too small (a click, not a box)", () => {
  assert.equal(MIN_BOX_PX, 2);
  assert.ok(tooSmall({ left: 0.1, top: 0.1, width: 1.5 / 800, height: 0.1 }, 800, 600));
  assert.ok(tooSmall({ left: 0.1, top: 0.1, width: 0.1, height: 1 / 600 }, 800, 600));
  assert.ok(!tooSmall({ left: 0.1, top: 0.1, width: 2 / 800, height: 2 / 600 }, 800, 600));
});

test("contains includes the edges", () => {
  const box = { left: 0.2, top: 0.2, width: 0.4, height: 0.4 };
  assert.ok(contains(box, 0.2, 0.6));
  assert.ok(contains(box, 0.4, 0.4));
  assert.ok(!contains(box, 0.61, 0.4));
  assert.ok(!contains(box, 0.4, 0.19));
});

test("the box under a point is the smallest one containing it, so nested boxes stay reachable", () => {
  const big = { id: "big", left: 0, top: 0, width: 1, height: 1 };
  const small = { id: "small", left: 0.4, top: 0.4, width: 0.2, height: 0.2 };
  assert.equal(boxAt([big, small], 0.5, 0.5), "small");
  assert.equal(boxAt([small, big], 0.5, 0.5), "small");
  assert.equal(boxAt([big, small], 0.1, 0.1), "big");
  assert.equal(boxAt([small], 0.1, 0.1), null);
  assert.equal(boxAt(new Map([["small", small]]).values(), 0.5, 0.5), "small"); // the labeler passes an iterator
});

test("sameBox tolerates float noise only", () => {
  const a = { left: 0.1, top: 0.2, width: 0.3, height: 0.4 };
  assert.ok(sameBox(a, { ...a, left: 0.1 + 1e-9 }));
  assert.ok(!sameBox(a, { ...a, left: 0.11 }));
});
