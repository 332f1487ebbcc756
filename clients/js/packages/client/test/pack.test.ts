// The package as published: `npm pack` makes a tarball that installs into
// an empty project, imports in Node, type-checks in TypeScript and uploads
// a file to the example server.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { uploadsURL } from "./fixtures.js";

const exec = promisify(execFile);

/** Runs a command; its output is in the error when it fails. */
async function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) {
  try {
    return await exec(cmd, args, opts);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}
const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tsc = path.resolve(pkgDir, "../../node_modules/typescript/bin/tsc");
const tmp = mkdtempSync(path.join(tmpdir(), "carcosa-pack-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// npm passes its settings to scripts as npm_* variables; the project in
// tmp is not this workspace, so they are left out but for where npm keeps
// its cache and which registry it asks.
const keep = new Set(["npm_config_cache", "npm_config_registry", "npm_config_userconfig"]);
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_") || keep.has(k.toLowerCase())));

it("packs into a tarball that installs, imports, type-checks and uploads", async () => {
  await run("npm", ["run", "build"], { cwd: pkgDir, env });
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], { cwd: pkgDir, env });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  const files = packed!.files.map((f) => f.path).sort();
  expect(files).toEqual(expect.arrayContaining(["README.md", "dist/index.d.ts", "dist/index.js", "package.json"]));
  expect(files.filter((f) => f.startsWith("src/") || f.startsWith("test/"))).toEqual([]);

  const project = path.join(tmp, "project");
  mkdirSync(project);
  writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "pack-check", private: true, type: "module" }));
  const tarball = path.join(tmp, readdirSync(tmp).find((f) => f.endsWith(".tgz"))!);
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: project, env });

  writeFileSync(
    path.join(project, "check.mjs"),
    `import { createClient, CarcosaError } from "@carcosa/client";
const c = createClient({ url: process.argv[2] });
const [rec] = await c.upload("documents", new File(["packed\\n"], "packed.txt", { type: "text/plain" }));
const err = await c.upload("nope", new File(["x"], "x.txt")).catch((e) => e);
console.log(JSON.stringify({ rec, refused: err instanceof CarcosaError ? err.code : String(err) }));
`,
  );
  const out = await run("node", ["check.mjs", uploadsURL], { cwd: project, env });
  const result = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
  expect(result.rec).toMatchObject({ name: "packed.txt", state: "ready", size: 7 });
  expect(result.refused).toBe("unknown_route");

  // The types as a consumer sees them.
  writeFileSync(
    path.join(project, "check.ts"),
    `import { createClient, type UploadRecord } from "@carcosa/client";
interface CarcosaRoutes {
  images: { input: { caption?: string } };
  documents: { input: Record<string, never> };
}
const c = createClient<CarcosaRoutes>({ url: "http://127.0.0.1/api/uploads" });
export const ok: Promise<UploadRecord[]> = c.upload("images", new Blob(), { input: { caption: "x" } });
// @ts-expect-error: no such route
c.upload("nope", new Blob());
`,
  );
  await run(
    "node",
    [tsc, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--lib", "es2022,dom", "check.ts"],
    { cwd: project, env },
  );
}, 180_000);
