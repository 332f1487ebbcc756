// The package as published: `npm pack` makes a tarball that installs, with
// the client's and React, into an empty project, renders on the server and
// type-checks there, typed routes included.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { outsideEnv, run } from "../../client/test/npm.js";

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const clientDir = path.resolve(pkgDir, "../client");
const root = path.resolve(pkgDir, "../..");
const tsc = path.join(root, "node_modules/typescript/bin/tsc");
const tmp = mkdtempSync(path.join(tmpdir(), "carcosa-react-pack-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const env = outsideEnv;

/** The version of package name that the workspace installed. */
async function installed(name: string): Promise<string> {
  const { stdout } = await run("node", ["-p", `require(${JSON.stringify(`./node_modules/${name}/package.json`)}).version`], { cwd: root, env });
  return stdout.trim();
}

it("packs into a tarball that installs beside the client and React, renders and type-checks", async () => {
  const tarballs: string[] = [];
  for (const dir of [clientDir, pkgDir]) {
    await run("npm", ["run", "build"], { cwd: dir, env });
    const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], { cwd: dir, env });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    const files = packed!.files.map((f) => f.path);
    expect(files.filter((f) => f.startsWith("src/") || f.startsWith("test/"))).toEqual([]);
    tarballs.push(path.join(tmp, packed!.filename));
  }
  expect(readdirSync(tmp).filter((f) => f.endsWith(".tgz"))).toHaveLength(2);

  const project = path.join(tmp, "project");
  mkdirSync(project);
  writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "react-pack-check", private: true, type: "module" }));
  const deps = await Promise.all(["react", "react-dom", "@types/react"].map(async (n) => `${n}@${await installed(n)}`));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...tarballs, ...deps], { cwd: project, env });

  writeFileSync(
    path.join(project, "render.mjs"),
    `import { createElement as h } from "react";
import { renderToString } from "react-dom/server";
import { createClient } from "@carcosa/client";
import { CarcosaProvider, UploadDropzone, UploadButton, forRoutes } from "@carcosa/react";
const client = createClient({ url: "http://127.0.0.1:9/api/uploads" });
const html = renderToString(h(CarcosaProvider, { client }, h(UploadDropzone, { route: "images" }), h(UploadButton, { route: "files" })));
console.log(JSON.stringify({ html, typed: typeof forRoutes().UploadDropzone }));
`,
  );
  const out = await run("node", ["render.mjs"], { cwd: project, env });
  const result = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
  expect(result.html).toContain("carcosa-dropzone");
  expect(result.html).toContain('role="button"');
  expect(result.typed).toBe("function");

  writeFileSync(
    path.join(project, "check.tsx"),
    `import { forRoutes } from "@carcosa/react";
interface CarcosaRoutes {
  images: { input: { caption?: string } };
  files: { input: Record<string, never> };
}
const { UploadDropzone, useUpload } = forRoutes<CarcosaRoutes>();
export const ok = <UploadDropzone route="images" input={{ caption: "x" }} />;
export function Hook() {
  // @ts-expect-error: no such route
  useUpload("nope");
  return null;
}
`,
  );
  await run(
    "node",
    [tsc, "--noEmit", "--strict", "--jsx", "react-jsx", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--lib", "es2022,dom", "check.tsx"],
    { cwd: project, env },
  );
}, 240_000);
