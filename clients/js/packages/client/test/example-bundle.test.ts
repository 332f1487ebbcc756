import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, test } from "vitest";

// examples/basic/web/carcosa-client.js is committed so that the example
// server needs no npm; it must be what `npm run build:example` makes of the
// client's sources today.
test("the example page's bundle is up to date with the client's sources", async () => {
  const jsRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
  const run = promisify(execFile);
  const result = await run(process.execPath, ["scripts/build-example.mjs", "--check"], { cwd: jsRoot }).catch(
    (err: { stderr?: string; message: string }) => ({ stdout: "", stderr: err.stderr || err.message, failed: true }),
  );
  expect("failed" in result ? result.stderr.trim() : "", "run `npm run build:example` in clients/js").toBe("");
});
