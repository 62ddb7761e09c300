(function () {
  "use strict";
  var colors = { workload: "#2f6fde", client: "#5b8c3a", server: "#b5651d", other: "#8a8f99" };
  function fmt(v, digits) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
  }
  function edgeLabel(e) {
    return e.calls + " · " + fmt(e.rate, 1) + "/s · " + fmt(100 * e.error_share, 0) + "% err\n" +
      "p50 " + fmt(e.p50_ms, 1) + " p99 " + fmt(e.p99_ms, 1) + " ms · " + e.protocol;
  }
  function elementsOf(data) {
    var elements = [];
    data.nodes.forEach(function (n) {
      elements.push({ group: "nodes", data: { id: n.id, label: n.name, color: colors[n.kind] || "#8a8f99" } });
    });
    data.edges.forEach(function (e) {
      elements.push({
        group: "edges",
        data: {
          id: e.id, source: e.source, target: e.target, label: edgeLabel(e),
          width: 1.5 + Math.min(8, Math.log10(1 + e.calls) * 2),
          color: e.error_share > 0 ? "#d23c3c" : "#6b7385"
        }
      });
    });
    return elements;
  }
  var layout = { name: "breadthfirst", directed: true, padding: 30, spacingFactor: 1.2, animate: false };
  var cy = cytoscape({
    container: document.getElementById("graph"),
    elements: [],
    wheelSensitivity: 0.2,
    style: [
      { selector: "node", style: {
        "background-color": "data(color)", "label": "data(label)", "font-size": 12,
        "text-valign": "bottom", "text-margin-y": 6, "width": 26, "height": 26 } },
      { selector: "edge", style: {
        "width": "data(width)", "line-color": "data(color)", "target-arrow-color": "data(color)",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(label)",
        "font-size": 10, "text-wrap": "wrap", "text-max-width": 150, "text-background-color": "#fff",
        "text-background-opacity": 0.85, "text-background-padding": 2, "text-rotation": "none" } }
    ]
  });

  // Draws `data`: the graph, then every edge and node with its figures in the DOM.
  function render(data) {
    cy.elements().remove();
    cy.add(elementsOf(data));
    cy.layout(layout).run();
    var body = document.querySelector("#edges tbody");
    body.textContent = "";
    data.edges.forEach(function (e) {
      var tr = document.createElement("tr");
      tr.dataset.edge = e.id;
      tr.dataset.source = e.source_name;
      tr.dataset.target = e.target_name;
      [e.source_name, e.target_name, e.protocol, e.calls, fmt(e.rate, 2), e.errors,
       fmt(100 * e.error_share, 1) + "%", fmt(e.p50_ms, 2), fmt(e.p99_ms, 2)].forEach(function (v) {
        var td = document.createElement("td");
        td.textContent = String(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    var list = document.getElementById("nodes");
    list.textContent = "";
    data.nodes.forEach(function (n) {
      var p = cy.getElementById(n.id).renderedPosition();
      var li = document.createElement("li");
      li.dataset.node = n.id;
      li.dataset.x = p.x.toFixed(0);
      li.dataset.y = p.y.toFixed(0);
      li.textContent = n.name + " (" + n.kind + "): " + n.calls_out + " calls out, " + n.calls_in + " calls in";
      list.appendChild(li);
    });
    var calls = data.edges.reduce(function (s, e) { return s + e.calls; }, 0);
    document.getElementById("summary").textContent = data.nodes.length + " nodes, " + data.edges.length +
      " edges, " + calls + " calls" +
      (data.folded_calls > 0 ? " (" + data.folded_calls + " folded into other)" : "");
    document.body.dataset.nodes = String(cy.nodes().length);
    document.body.dataset.edges = String(cy.edges().length);
    document.body.dataset.rendered = "yes";
  }

  render(JSON.parse(document.getElementById("map-data").textContent));

  // A collector's live page asks for the map again every few seconds; a
  // saved file has no refresh and stays as it was drawn.
  var every = Number(document.body.dataset.refresh || 0);
  if (every > 0 && window.fetch) {
    var last = "";
    setInterval(function () {
      fetch("map.json", { cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (text) {
          if (text !== last) {
            last = text;
            render(JSON.parse(text));
          }
          document.body.dataset.refreshed = new Date().toISOString();
        })
        .catch(function () { document.body.dataset.refreshFailed = new Date().toISOString(); });
    }, every * 1000);
  }
})();
