// What the pack tests share: running a command, and an environment for a
// project outside this workspace.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** Runs a command; its output is in the error when it fails. */
export async function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) {
  try {
    return await exec(cmd, args, opts);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

// npm passes its settings to scripts as npm_* variables; a project in a
// temporary directory is not this workspace, so they are left out but for
// where npm keeps its cache and which registry it asks.
const keep = new Set(["npm_config_cache", "npm_config_registry", "npm_config_userconfig"]);

/** The environment for npm and node run in a project outside the workspace. */
export const outsideEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_") || keep.has(k.toLowerCase())),
);
