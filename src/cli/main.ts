/**
 * The `strata` command line: a thin layer over the library. Each verb lives in its own file in
 * commands/ and registers itself on the program; this file owns the global options and the one
 * place where errors become a one-line message and an exit code.
 */
import { Command, CommanderError } from 'commander';
import { defaultRoot } from './root.js';
import { errorLine } from './output.js';
import { packageVersion } from './version.js';
import * as info from './commands/info.js';

interface GlobalOptions {
  root: string;
  json: boolean;
}

function buildProgram(): Command {
  const program = new Command('strata')
    .description("Docker's layer store and the Linux OverlayFS")
    .version(packageVersion(), '-v, --version', 'print the version')
    .option('--root <dir>', 'data root', defaultRoot())
    .option('--json', 'print machine-readable JSON', false)
    .enablePositionalOptions(false)
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  info.register(program, globals);
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: () => undefined });
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0; // --help, --version
      process.stderr.write(`strata: ${e.message.replace(/^error: /, '')}\n`);
      return 2;
    }
    process.stderr.write(`${errorLine(e)}\n`);
    return 1;
  }
}
