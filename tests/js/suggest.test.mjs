// static/health/suggest_nav.js: moving over the Suggested tags cards with the keyboard.

import assert from "node:assert/strict";
import { test } from "node:test";

import { hotkeyOption, moveIndex } from "../../static/health/suggest_nav.js";

// Two groups: a line of three cards, a line of two; then a second group with one line of two.
const tops = [10, 10, 10, 200, 200, 500, 500];

test("left and right walk the cards in order and stop at the ends", () => {
  assert.equal(moveIndex(0, "ArrowRight", tops), 1);
  assert.equal(moveIndex(6, "ArrowRight", tops), 6);
  assert.equal(moveIndex(0, "ArrowLeft", tops), 0);
  assert.equal(moveIndex(3, "Home", tops), 0);
  assert.equal(moveIndex(3, "End", tops), 6);
});

test("up and down keep the column, or the last card of a shorter line", () => {
  assert.equal(moveIndex(1, "ArrowDown", tops), 4);
  assert.equal(moveIndex(2, "ArrowDown", tops), 4);
  assert.equal(moveIndex(4, "ArrowDown", tops), 6);
  assert.equal(moveIndex(6, "ArrowUp", tops), 4);
  assert.equal(moveIndex(0, "ArrowUp", tops), 0);
  assert.equal(moveIndex(5, "ArrowDown", tops), 5);
});

test("no cards, or an index out of range", () => {
  assert.equal(moveIndex(0, "ArrowRight", []), -1);
  assert.equal(moveIndex(9, "ArrowRight", tops), 0);
});

test("a number key picks the option with that hotkey", () => {
  const options = [{ value: "", hotkey: "" }, { value: "a", hotkey: "1" }, { value: "c", hotkey: "3" }];
  assert.equal(hotkeyOption(options, "3"), "c");
  assert.equal(hotkeyOption(options, "2"), null);
});
