// Bundles @carcosa/client (its sources, with tus-js-client's browser build)
// into examples/basic/web/carcosa-client.js, one minified ES module that the
// example's page imports, so that `go run ./examples/basic` needs no npm.
//
//   node scripts/build-example.mjs          write the bundle
//   node scripts/build-example.mjs --check  exit 1 when the committed bundle differs
//
// The output depends only on the sources and on esbuild's and
// tus-js-client's versions, which package-lock.json pins: the client
// package's test "example bundle" rebuilds it in memory and compares bytes.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
export const jsRoot = path.resolve(here, '..');
export const bundlePath = path.resolve(jsRoot, '../../examples/basic/web/carcosa-client.js');

const HEADER =
  '// @carcosa/client for the example page, bundled by `npm run build:example` in clients/js\n' +
  '// (scripts/build-example.mjs) from packages/client/src and tus-js-client. Do not edit.';

/** buildBundle returns the bundle's bytes, without writing them. */
export async function buildBundle() {
  const result = await esbuild.build({
    absWorkingDir: jsRoot,
    entryPoints: ['packages/client/src/index.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    banner: { js: HEADER },
    write: false,
    logLevel: 'silent',
  });
  return Buffer.from(result.outputFiles[0].contents);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bytes = await buildBundle();
  if (process.argv.includes('--check')) {
    const committed = fs.existsSync(bundlePath) ? fs.readFileSync(bundlePath) : Buffer.alloc(0);
    if (!committed.equals(bytes)) {
      console.error(`${path.relative(process.cwd(), bundlePath)} is stale: run \`npm run build:example\` in clients/js`);
      process.exit(1);
    }
    console.log(`${path.relative(process.cwd(), bundlePath)} is up to date (${bytes.length} bytes)`);
  } else {
    fs.writeFileSync(bundlePath, bytes);
    console.log(`wrote ${path.relative(process.cwd(), bundlePath)} (${bytes.length} bytes)`);
  }
}
