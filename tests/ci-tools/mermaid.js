#!/usr/bin/env node
// Parses Mermaid flowcharts with Mermaid's own parser (npm package `mermaid`, its DOM needs from
// `jsdom`) and prints what Mermaid understood, as JSON: the nodes (id, label, shape, classes), the
// edges and the subgraphs. A syntax error is what GitHub and GitLab would show instead of a chart.
// Usage: NODE_PATH=target/ci-tools/node_modules node tests/ci-tools/mermaid.js FILE
// Exit 0 parsed (JSON on stdout), 1 syntax error (the message on stdout), 2 usage or I/O error.
const fs = require("node:fs");
const { pathToFileURL } = require("node:url");

async function main(files) {
  if (files.length !== 1) {
    console.error("usage: mermaid.js FILE");
    return 2;
  }
  const text = fs.readFileSync(files[0], "utf8");
  // Mermaid sanitises labels with DOMPurify, which needs a window.
  const { JSDOM } = require("jsdom");
  const dom = new JSDOM("<!doctype html><html><body></body></html>");
  globalThis.window = dom.window;
  globalThis.document = dom.window.document;
  // An ES module: import() does not search NODE_PATH, require.resolve does.
  const mermaid = (await import(pathToFileURL(require.resolve("mermaid")).href)).default;
  mermaid.initialize({ startOnLoad: false });
  try {
    await mermaid.parse(text);
  } catch (e) {
    console.log(String(e.message || e));
    return 1;
  }
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
  const db = diagram.db;
  // The parser keeps entity codes (#quot;) as placeholders that the renderer turns into HTML
  // entities; decode them as a browser would.
  const decode = (s) => {
    const area = dom.window.document.createElement("textarea");
    area.innerHTML = String(s)
      .replace(/ﬂ°°/g, "&#")
      .replace(/ﬂ°/g, "&")
      .replace(/¶ß/g, ";");
    return area.value;
  };
  const subgraphs = db.getSubGraphs().map((s) => ({ id: s.id, title: decode(s.title), nodes: s.nodes }));
  const subgraphIds = new Set(subgraphs.map((s) => s.id));
  const result = {
    type: diagram.type,
    // An edge to a subgraph also lists the subgraph among the vertices: left out here.
    nodes: [...db.getVertices().values()]
      .filter((v) => !subgraphIds.has(v.id))
      .map((v) => ({ id: v.id, label: decode(v.text), shape: v.type, classes: v.classes })),
    edges: db.getEdges().map((e) => ({ from: e.start, to: e.end, type: e.type })),
    subgraphs,
  };
  console.log(JSON.stringify(result, null, 2));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
