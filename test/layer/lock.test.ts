/**
 * The data-root lock (src/layer/lock.ts) between processes: one writer or many readers per data
 * root. A child process (`node --import tsx -e …`) opens a store on the same root and holds it
 * until told to close; flock conflicts between open file descriptions, so the same checks also
 * hold for two opens in one process.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, afterEach, describe, it } from 'node:test';
import { LOCK_FILE, openLayerStore, type LayerStore, type OpenLayerStoreOptions } from '../../src/layer/index.js';
import { dataRoot, errWith } from './store-helpers.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const LAYER_INDEX = fileURLToPath(new URL('../../src/layer/index.ts', import.meta.url));

/** Opens a store with the options in argv[2], says what happened, closes on a line on stdin. */
const CHILD = `
const { openLayerStore } = await import(process.argv[1]);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let store;
try {
  store = await openLayerStore({ ...JSON.parse(process.argv[2]), onWait: () => say({ waiting: Date.now() }) });
  say({ opened: Date.now() });
} catch (e) {
  say({ error: e.code ?? String(e), message: e.message });
  process.exit(0);
}
process.stdin.once('data', async () => {
  const closing = Date.now();
  await store.close();
  say({ closed: Date.now(), closing });
  process.exit(0);
});
`;

interface Msg {
  opened?: number;
  closed?: number;
  /** Taken just before the close: whoever gets the lock next gets it after this. */
  closing?: number;
  waiting?: number;
  error?: string;
  message?: string;
}

const children = new Set<ChildProcess>();

class Child {
  private readonly proc: ChildProcess;
  private readonly queue: Msg[] = [];
  private waiter: ((m: Msg) => void) | undefined;
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(opts: OpenLayerStoreOptions) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, LAYER_INDEX, JSON.stringify(opts)], {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(this.proc);
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code, signal) => {
        children.delete(this.proc);
        resolve({ code, signal });
      }),
    );
    let buf = '';
    this.proc.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const m = JSON.parse(buf.slice(0, i)) as Msg;
        buf = buf.slice(i + 1);
        if (this.waiter) {
          const w = this.waiter;
          this.waiter = undefined;
          w(m);
        } else this.queue.push(m);
      }
    });
    this.proc.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString()));
  }

  /** The child's next message (20 s at most). */
  next(): Promise<Msg> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message from the child; stderr: ${this.stderr}`)), 20_000);
      this.waiter = (msg) => {
        clearTimeout(timer);
        resolve(msg);
      };
      void this.exited.then(() => setTimeout(() => reject(new Error(`the child exited; stderr: ${this.stderr}`)), 100));
    });
  }

  /** Tells the child to close its store; resolves with its `closed` message. */
  async close(): Promise<Msg> {
    this.proc.stdin!.write('close\n');
    const m = await this.next();
    await this.exited;
    return m;
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }
}

after(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('data-root lock', () => {
  const stores: LayerStore[] = [];
  const open = async (opts: OpenLayerStoreOptions): Promise<LayerStore> => {
    const s = await openLayerStore(opts);
    stores.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  it('a writable store locks <root>/strata.lock: another process gets STORE_LOCKED with lock: "fail"', async () => {
    const root = dataRoot('strata-lock-');
    const store = await open({ root, driver: 'vfs' });
    const lockFile = path.join(root, LOCK_FILE);
    assert.equal(fs.statSync(lockFile).size, 0);
    assert.equal(fs.statSync(lockFile).mode & 0o7777, 0o600);
    for (const readOnly of [false, true]) {
      const child = new Child({ root, driver: 'vfs', lock: 'fail', readOnly });
      assert.deepEqual(await child.next(), { error: 'STORE_LOCKED', message: `data root ${root} is in use by another strata process` });
      await child.exited;
    }
    await store.close();
    const child = new Child({ root, driver: 'vfs', lock: 'fail' });
    assert.ok((await child.next()).opened);
    await assert.rejects(open({ root, driver: 'vfs', lock: 'fail' }), errWith('STORE_LOCKED'));
    assert.ok((await child.close()).closed);
    assert.ok(fs.existsSync(lockFile), 'the lock file is never removed');
  });

  it('two opens in one process conflict the same way', async () => {
    const root = dataRoot('strata-lock-');
    const a = await open({ root, driver: 'vfs' });
    await assert.rejects(open({ root, driver: 'vfs', lock: 'fail' }), errWith('STORE_LOCKED', `data root ${root} is in use by another strata process`));
    await assert.rejects(open({ root, driver: 'vfs', lock: 'fail', readOnly: true }), errWith('STORE_LOCKED'));
    await a.close();
    const b = await open({ root, driver: 'vfs', lock: 'fail', readOnly: true });
    const c = await open({ root, driver: 'vfs', lock: 'fail', readOnly: true });
    await assert.rejects(open({ root, driver: 'vfs', lock: 'fail' }), errWith('STORE_LOCKED'));
    await b.close();
    await c.close();
    await open({ root, driver: 'vfs', lock: 'fail' });
  });

  it('read-only stores share the lock across processes; a writer is refused while one is open', async () => {
    const root = dataRoot('strata-lock-');
    await (await openLayerStore({ root, driver: 'vfs' })).close(); // create the root and layout
    const r1 = new Child({ root, driver: 'vfs', lock: 'fail', readOnly: true });
    const r2 = new Child({ root, driver: 'vfs', lock: 'fail', readOnly: true });
    assert.ok((await r1.next()).opened);
    assert.ok((await r2.next()).opened);
    const mine = await open({ root, driver: 'vfs', lock: 'fail', readOnly: true });
    assert.equal(mine.readOnly, true);
    const w = new Child({ root, driver: 'vfs', lock: 'fail' });
    assert.equal((await w.next()).error, 'STORE_LOCKED');
    await assert.rejects(open({ root, driver: 'vfs', lock: 'fail' }), errWith('STORE_LOCKED'));
    await r1.close();
    await r2.close();
    await mine.close();
    await open({ root, driver: 'vfs', lock: 'fail' });
  });

  it('a writer waits until the holder closes (without blocking the event loop)', async () => {
    const root = dataRoot('strata-lock-');
    const holder = new Child({ root, driver: 'vfs' });
    assert.ok((await holder.next()).opened);
    let waited = 0;
    let resolvedAt: number | undefined;
    const opening = open({ root, driver: 'vfs', onWait: () => waited++ }).then((s) => {
      resolvedAt = Date.now();
      return s;
    });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    await new Promise((r) => setTimeout(r, 400));
    clearInterval(timer);
    assert.equal(resolvedAt, undefined, 'the open returned while the other process held the lock');
    assert.equal(waited, 1, 'onWait is called once');
    assert.ok(ticks >= 10, `the event loop ran while waiting (${ticks} ticks)`);
    const { closing } = await holder.close();
    const store = await opening;
    assert.ok(closing !== undefined && resolvedAt !== undefined && resolvedAt >= closing, `opened at ${resolvedAt}, holder closed at ${closing}`);
    assert.equal(store.readOnly, false);
    assert.equal(waited, 1);
  });

  it('a reader waits for the writer, a writer for the readers', async () => {
    const root = dataRoot('strata-lock-');
    const mine = await open({ root, driver: 'vfs' });
    const reader = new Child({ root, driver: 'vfs', readOnly: true });
    const w = await reader.next();
    assert.ok(w.waiting, `the reader should wait: ${JSON.stringify(w)}`);
    const closedAt = Date.now();
    await mine.close();
    const o = await reader.next();
    assert.ok(o.opened !== undefined && o.opened >= closedAt);
    // Now a writer in this process waits for that reader.
    let resolvedAt: number | undefined;
    const opening = open({ root, driver: 'vfs' }).then((s) => ((resolvedAt = Date.now()), s));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(resolvedAt, undefined);
    const { closing } = await reader.close();
    await opening;
    assert.ok(resolvedAt! >= closing!);
  });

  it('a holder killed with SIGKILL leaves no stale lock', async () => {
    const root = dataRoot('strata-lock-');
    const holder = new Child({ root, driver: 'vfs' });
    assert.ok((await holder.next()).opened);
    await assert.rejects(open({ root, driver: 'vfs', lock: 'fail' }), errWith('STORE_LOCKED'));
    holder.kill();
    assert.equal((await holder.exited).signal, 'SIGKILL');
    await open({ root, driver: 'vfs', lock: 'fail' });
  });

  it('an open that fails after taking the lock lets go of it', async () => {
    const root = dataRoot('strata-lock-');
    await assert.rejects(openLayerStore({ root, driver: 'no-such-driver', lock: 'fail' }));
    await open({ root, driver: 'vfs', lock: 'fail' });
  });
});
