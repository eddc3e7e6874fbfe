"""axe-core in every page the browser tests open: WCAG 2.1 A/AA findings, serious or critical ones fail the test.

The vendored ``vendor/axe.min.js`` (no network at test time) is an init script of each browser context, so every
document the test loads carries it. A small runner checks the page after ``load`` and again after htmx swaps
(debounced, so a polling page is checked once it settles) and reports through an exposed binding. At teardown the
page fixture runs one last check on whatever the page shows then, opens again (GET) any URL the test left before
its check could finish, and fails on serious/critical findings with the rule, the selectors and the URL.
``TAGSIGHT_AXE_REPORT=path`` appends every finding (any impact) as JSON lines.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AXE_VERSION = "4.14.1"
AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
FAILING_IMPACTS = ("serious", "critical")

# Runs in every http(s) top-level document, after axe.min.js. Checks are chained: axe refuses to run twice at once.
RUNNER = """
(() => {
  if (!/^https?:$/.test(location.protocol) || window !== window.top || !window.axe) return;
  const options = { runOnly: { type: "tag", values: __TAGS__ }, resultTypes: ["violations"] };
  let chain = Promise.resolve();
  const check = () => (chain = chain.then(async () => {
    const result = await window.axe.run(document, options);
    const found = result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(" "), summary: n.failureSummary || "" })),
    }));
    await window.__tagsightAxeReport(location.href, found);
  }).catch((error) => window.__tagsightAxeReport(location.href,
    [{ id: "axe-error", impact: "critical", help: String(error), nodes: [] }])));
  window.__tagsightAxeCheck = () => check();
  let timer = null;
  const later = (ms) => { clearTimeout(timer); timer = setTimeout(check, ms); };
  addEventListener("load", () => later(50), { once: true });
  document.addEventListener("htmx:afterSettle", () => later(600));
})();
""".replace("__TAGS__", json.dumps(list(WCAG_TAGS)))


@dataclass
class AxeFindings:
    """What the runner reported for one test: (url, rule) → its nodes, deduplicated across repeated checks."""

    seen: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pages: set[str] = field(default_factory=set)  # URLs checked
    visited: list[str] = field(default_factory=list)  # URLs the page showed, in order

    def add(self, url: str, violations: list[dict[str, Any]]) -> None:
        self.pages.add(url)
        for v in violations:
            entry = self.seen.setdefault((url, v["id"]), {**v, "nodes": []})
            targets = {n["target"] for n in entry["nodes"]}
            entry["nodes"] += [n for n in v["nodes"] if n["target"] not in targets]

    def failing(self) -> list[tuple[str, dict[str, Any]]]:
        return [(url, v) for (url, _), v in self.seen.items() if v["impact"] in FAILING_IMPACTS]

    def message(self) -> str:
        lines = [f"axe-core {AXE_VERSION} found serious/critical WCAG 2.1 A/AA violations:"]
        for url, v in self.failing():
            lines.append(f"  {url}\n    {v['id']} ({v['impact']}): {v['help']}")
            for node in v["nodes"][:8]:
                summary = " ".join(node["summary"].split())[:240]
                lines.append(f"      {node['target']}  — {summary}")
            if len(v["nodes"]) > 8:
                lines.append(f"      … and {len(v['nodes']) - 8} more")
        return "\n".join(lines)

    def write_report(self, test_id: str) -> None:
        path = os.environ.get("TAGSIGHT_AXE_REPORT")
        if not path:
            return
        with open(path, "a", encoding="utf-8") as out:
            for url in sorted(self.pages):
                rules = [v for (u, _), v in self.seen.items() if u == url]
                out.write(json.dumps({"test": test_id, "url": url, "violations": rules}) + "\n")


def install(context: Any) -> AxeFindings:
    """Makes every page of ``context`` carry axe and report to the returned findings."""
    findings = AxeFindings()
    context.expose_binding("__tagsightAxeReport", lambda _source, url, found: findings.add(url, found))
    context.add_init_script(path=str(AXE_JS))
    context.add_init_script(script=RUNNER)
    return findings


def follow(page: Any, findings: AxeFindings) -> None:
    """Records each URL the page's main frame shows (loads and htmx's pushed URLs alike)."""

    def navigated(frame: Any) -> None:
        if frame == page.main_frame and frame.url.startswith("http") and frame.url not in findings.visited:
            findings.visited.append(frame.url)

    page.on("framenavigated", navigated)


def check_missed(page: Any, findings: AxeFindings) -> None:
    """Opens again, and checks, every URL the test left before its check finished (all our pages are safe GETs)."""
    from playwright.sync_api import Error

    for url in [u for u in findings.visited if u not in findings.pages]:
        try:
            page.goto(url, wait_until="load")
        except Error:
            continue
        check_now(page)


def check_now(page: Any) -> None:
    """Checks the page as it is now (waits for checks already under way); a page mid-navigation is skipped."""
    from playwright.sync_api import Error

    try:
        page.evaluate("() => window.__tagsightAxeCheck && window.__tagsightAxeCheck()")
    except Error:
        pass
