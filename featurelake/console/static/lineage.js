// The lineage graph: cytoscape.js laid out by dagre (vendored, see vendor/README.md).
// The graph's JSON is embedded in the page (<script type="application/json">, not executed);
// clicking a node opens its page. No inline scripts: the CSP forbids them.
(function () {
  "use strict";
  var container = document.getElementById("cy");
  if (!container) { return; }
  var data = JSON.parse(document.getElementById(container.dataset.graph).textContent);
  var colours = {
    data_source: "#2f6f9f", feature_view_version: "#2e7d32", delta_output: "#6d4c41",
    feature_service_version: "#8e24aa", training_set: "#ef6c00", model: "#c62828", monitor_run: "#546e7a"
  };
  var elements = [];
  data.nodes.forEach(function (n) {
    elements.push({ group: "nodes", data: {
      id: n.id, label: n.kind.replace(/_/g, " ") + "\n" + n.label, href: n.href, kind: n.kind,
      colour: colours[n.kind] || "#333", root: n.root ? 1 : 0 } });
  });
  data.edges.forEach(function (e, i) {
    elements.push({ group: "edges", data: { id: "e" + i, source: e.source, target: e.target } });
  });
  if (typeof cytoscapeDagre === "function" && !window.featurelakeDagreRegistered) {
    try { cytoscape.use(cytoscapeDagre); } catch (err) { /* already registered by the UMD build */ }
    window.featurelakeDagreRegistered = true;
  }
  var cy = cytoscape({
    container: container,
    elements: elements,
    wheelSensitivity: 0.3,
    boxSelectionEnabled: false,
    autoungrabify: true,
    style: [
      { selector: "node", style: {
        "shape": "round-rectangle", "background-color": "data(colour)", "label": "data(label)",
        "color": "#fff", "text-wrap": "wrap", "text-valign": "center", "text-halign": "center",
        "font-size": 11, "width": 170, "height": 44, "text-max-width": 160 } },
      { selector: "node[root = 1]", style: { "border-width": 4, "border-color": "#fdd835" } },
      { selector: "edge", style: {
        "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.5,
        "line-color": "#9e9e9e", "target-arrow-color": "#9e9e9e" } },
      { selector: "node:active, node.hover", style: { "overlay-opacity": 0.15 } }
    ],
    layout: { name: "dagre", rankDir: "LR", nodeSep: 20, rankSep: 70, fit: true, padding: 20 }
  });
  cy.on("tap", "node", function (evt) {
    var href = evt.target.data("href");
    if (href) { window.location.assign(href); }
  });
  cy.on("mouseover", "node", function (evt) { evt.target.addClass("hover"); container.classList.add("pointer"); });
  cy.on("mouseout", "node", function (evt) { evt.target.removeClass("hover"); container.classList.remove("pointer"); });
  // for tests and power users: the page's graph (read-only use)
  window.featurelakeLineage = cy;
  container.dataset.ready = "1";
})();
