// static/labeling/proposals.js: the labeler's region proposals (Smart Labeler), tested as JavaScript.

import assert from "node:assert/strict";
import { test } from "node:test";

import { freshProposals, iou, withoutProposal } from "../../static/labeling/proposals.js";

const box = (left, top, width, height) => ({ left, top, width, height });

test("iou of equal, disjoint and half-overlapping boxes", () => {
  assert.equal(iou(box(0, 0, 0.5, 0.5), box(0, 0, 0.5, 0.5)), 1);
  assert.equal(iou(box(0, 0, 0.2, 0.2), box(0.5, 0.5, 0.2, 0.2)), 0);
  assert.ok(Math.abs(iou(box(0, 0, 0.4, 0.4), box(0.2, 0, 0.4, 0.4)) - 1 / 3) < 1e-9);
});

test("fresh proposals are sorted by confidence and skip boxes already drawn", () => {
  const api = [
    { confidence: 0.2, boundingBox: box(0, 0, 0.3, 0.3) },
    { confidence: 0.9, boundingBox: box(0.5, 0.5, 0.4, 0.4) },
    { confidence: 0.5, boundingBox: box(0.1, 0.6, 0.2, 0.2) },
    { confidence: 0.8, boundingBox: box(0.1, 0.1, 0, 0.2) },
  ];
  const drawn = [box(0.52, 0.5, 0.4, 0.4)];
  const fresh = freshProposals(api, drawn);
  assert.deepEqual(fresh.map((p) => p.confidence), [0.5, 0.2]);
  assert.deepEqual(Object.keys(fresh[0]).sort(), ["confidence", "height", "id", "left", "top", "width"]);
  assert.deepEqual(freshProposals(api, drawn, 0.5, 1).map((p) => p.confidence), [0.5]);
});

test("removing a proposal focuses the one that took its place, else the one before", () => {
  const list = [{ id: "a" }, { id: "b" }, { id: "c" }];
  assert.deepEqual(withoutProposal(list, "b"), { list: [{ id: "a" }, { id: "c" }], next: "c" });
  assert.equal(withoutProposal(list, "c").next, "b");
  assert.equal(withoutProposal([{ id: "a" }], "a").next, null);
  assert.equal(withoutProposal(list, "zz").next, "a");
});
