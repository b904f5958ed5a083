// Rain's own Float library (npm @rainlanguage/float, wasm) as a test oracle and encoder.
// Reads one JSON request on stdin: {"op": "format", "items": [hex...]}
//   → [{"format": str|null, "fixed": str|null, "error": str|null}]   (fixed = toFixedDecimalLossy(decimals))
// or {"op": "parse", "items": ["2.5", ...]} → [hex...]   (Float.parse(text).asHex())
"use strict";
const { Float } = require("@rainlanguage/float");

function message(error) {
  if (!error) return null;
  return String(error.msg || error.readableMsg || JSON.stringify(error));
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  let out;
  if (request.op === "format") {
    const decimals = request.decimals === undefined ? 18 : request.decimals;
    out = request.items.map((hex) => {
      const parsed = Float.fromHex(hex);
      if (parsed.error) return { format: null, fixed: null, error: message(parsed.error) };
      const formatted = parsed.value.format();
      const fixed = parsed.value.toFixedDecimalLossy(decimals);
      return {
        format: formatted.error ? null : String(formatted.value),
        fixed: fixed.error ? null : fixed.value.toString(),
        error: message(formatted.error),
      };
    });
  } else if (request.op === "parse") {
    out = request.items.map((text) => {
      const parsed = Float.parse(text);
      if (parsed.error) throw new Error(`Float.parse(${text}): ${message(parsed.error)}`);
      return parsed.value.asHex();
    });
  } else {
    throw new Error(`unknown op ${request.op}`);
  }
  process.stdout.write(JSON.stringify(out));
});
