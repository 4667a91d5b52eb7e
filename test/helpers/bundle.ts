/**
 * Child scripts as one bundled file, for tests that start many children (the crash trials, the
 * concurrency test, every CLI call of the CLI tests). Under tsx a child spends about a second of
 * CPU compiling and resolving the sources before it does anything; the same child bundled once by
 * esbuild (which tsx itself uses) starts in a quarter of that.
 *
 *   const file = await bundleScript(new URL('./crash-child.ts', import.meta.url), `${work}/child.mjs`);
 *   spawn(process.execPath, [file, ...args]);
 *
 * The bundle may live anywhere: `import.meta.url` is defined as the URL of src/sys/native.ts, so
 * what finds files next to the sources (the native addon above package.json, zstd's binding, the
 * version, strata-overlay's entry point) finds them as under tsx; npm packages are bundled in.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const ANCHOR = new URL('../../src/sys/native.ts', import.meta.url);

function options(entry: URL, outfile: string): esbuild.BuildOptions {
  return {
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(fileURLToPath(ANCHOR)).href) },
    // CommonJS packages (commander) call require for Node's built-ins.
    banner: { js: "import { createRequire as __strataCreateRequire } from 'node:module'; const require = __strataCreateRequire(import.meta.url);" },
  };
}

/** Bundles `entry` (a TypeScript script) into the ES module `outfile` and returns its path. */
export async function bundleScript(entry: URL, outfile: string): Promise<string> {
  await esbuild.build(options(entry, outfile));
  return outfile;
}

/** bundleScript, synchronously (for helpers that run children with spawnSync). */
export function bundleScriptSync(entry: URL, outfile: string): string {
  esbuild.buildSync(options(entry, outfile));
  return outfile;
}
