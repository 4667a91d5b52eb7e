/**
 * At most `n` tasks at once — how many layer transfers run in parallel (dockerd: 3 downloads,
 * 5 uploads).
 *
 *   const limit = limiter(3);
 *   const files = layers.map((l) => limit(() => download(l)));   // started in order, 3 at a time
 */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: (() => void)[] = [];
  const next = () => {
    if (running >= n) return;
    const start = queue.shift();
    if (start) start();
  };
  return <T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        running++;
        task()
          .then(resolve, reject)
          .finally(() => {
            running--;
            next();
          });
      });
      next();
    });
}
