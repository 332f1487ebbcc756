// The package as published: `npm pack` makes a tarball that installs into
// an empty project, imports in Node, type-checks in TypeScript and uploads
// a file to the example server.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { outsideEnv, run } from "./npm.js";
import { uploadsURL } from "./fixtures.js";

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tsc = path.resolve(pkgDir, "../../node_modules/typescript/bin/tsc");
const tmp = mkdtempSync(path.join(tmpdir(), "carcosa-pack-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const env = outsideEnv;

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
