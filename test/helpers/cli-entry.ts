// Runs the CLI from the TypeScript sources (tests spawn this through tsx).
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
