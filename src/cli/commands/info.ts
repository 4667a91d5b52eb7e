/**
 * `strata info`: this machine as strata sees it — the kernel, the data root, and for each graph
 * driver whether it can work here and, when not, why.
 */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { probeDrivers, type DriverSupport } from '../../driver/support.js';
import { emit, table } from '../output.js';
import { packageVersion } from '../version.js';

export interface Info {
  version: string;
  root: string;
  kernel: string;
  node: string;
  drivers: DriverSupport[];
}

export function gatherInfo(root: string): Info {
  return {
    version: packageVersion(),
    root: path.resolve(root),
    kernel: os.release(),
    node: process.version,
    drivers: probeDrivers(root),
  };
}

function render(info: Info): string {
  const head = [
    `Version:    ${info.version}`,
    `Data root:  ${info.root}`,
    `Kernel:     ${info.kernel}`,
    `Node:       ${info.node}`,
    '',
  ].join('\n');
  const rows = info.drivers.map((d) => [d.name, d.supported ? 'yes' : 'no', d.reason]);
  const details = info.drivers
    .filter((d) => Object.keys(d.details).length > 0)
    .map((d) => `${d.name}:\n${Object.entries(d.details).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`)
    .join('\n');
  return `${head}\n${table(['DRIVER', 'SUPPORTED', 'WHY'], rows)}\n${details}\n`;
}

export function register(program: Command, globals: () => { root: string; json: boolean }): void {
  program
    .command('info')
    .description('show the data root and which storage drivers work on this machine')
    .action(() => {
      const g = globals();
      emit(g, gatherInfo(g.root), render);
    });
}
