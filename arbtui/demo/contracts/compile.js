// Compiles every *.sol in this folder with solc-js (standard-JSON), resolving imports from
// node_modules. Usage: node compile.js OUT.json  — writes {ContractName: {abi, bytecode}}.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const here = __dirname;
const root = process.env.ARBTUI_NODE_ROOT || path.resolve(here, "..", "..", "..");
const out = process.argv[2];
if (!out) {
  console.error("usage: node compile.js OUT.json");
  process.exit(2);
}

const sources = {};
for (const name of fs.readdirSync(here).sort()) {
  if (name.endsWith(".sol")) sources[name] = { content: fs.readFileSync(path.join(here, name), "utf8") };
}

function findImports(importPath) {
  const candidates = [path.join(here, importPath), path.join(root, "node_modules", importPath)];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `import not found: ${importPath}` };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    viaIR: false,
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const artifacts = {};
for (const file of Object.keys(output.contracts)) {
  for (const [name, contract] of Object.entries(output.contracts[file])) {
    artifacts[name] = { abi: contract.abi, bytecode: "0x" + contract.evm.bytecode.object };
  }
}
artifacts._compiler = { solc: solc.version() };
fs.writeFileSync(out, JSON.stringify(artifacts));
