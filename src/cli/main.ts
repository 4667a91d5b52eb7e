/**
 * The `strata` command line: a thin layer over the library. Each verb lives in its own file in
 * commands/ and registers itself on the program; this file owns the global options and the one
 * place where errors become a one-line message and an exit code.
 */
import { Command, CommanderError } from 'commander';
import { defaultRoot } from './root.js';
import { errorLine } from './output.js';
import { packageVersion } from './version.js';
import { ExitCode } from './store.js';
import * as info from './commands/info.js';
import * as layer from './commands/layer.js';
import * as rw from './commands/rw.js';
import * as image from './commands/image.js';
import * as container from './commands/container.js';
import * as system from './commands/system.js';
import * as registry from './commands/registry.js';

interface GlobalOptions {
  root: string;
  driver?: string;
  json: boolean;
  ignoreDockerd: boolean;
}

/** Every command below `c`, nested ones included. */
function allCommands(c: Command): Command[] {
  return c.commands.flatMap((sub) => [sub, ...allCommands(sub)]);
}

function buildProgram(): Command {
  const program = new Command('strata')
    .description("Docker's layer store and the Linux OverlayFS")
    .version(packageVersion(), '-v, --version', 'print the version')
    .option('--root <dir>', 'data root', defaultRoot())
    .option('-s, --driver <name>', 'storage driver (overlay2, fuse-overlay, vfs); default: as dockerd chooses')
    .option('--json', 'print machine-readable JSON', false)
    .option('--ignore-dockerd', 'write to a data root even while a dockerd runs on it (refused otherwise)', false)
    .enablePositionalOptions(false)
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  info.register(program, globals);
  layer.register(program, globals);
  rw.register(program, globals);
  image.register(program, globals);
  container.register(program, globals);
  system.register(program, globals);
  registry.register(program, globals);
  for (const c of allCommands(program)) c.exitOverride().configureOutput({ outputError: () => undefined });
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof ExitCode) return e.code; // already reported
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0; // --help, --version
      if (e.code === 'commander.help') return 2; // a group without its verb: the help went to stderr
      // One line, commander's suggestion included: `unknown command 'logot' (Did you mean logout?)`.
      process.stderr.write(`strata: ${e.message.replace(/^error: /, '').replace(/\s*\n+\s*/g, ' ')}\n`);
      return 2;
    }
    process.stderr.write(`${errorLine(e)}\n`);
    return 1;
  }
}
