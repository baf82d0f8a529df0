// A bound on how many of some tasks run at once (each pinned probe is a process; a router has little memory).

/** Returns a runner that starts at most `n` tasks at once; the others wait their turn, in order. */
export function limitConcurrency(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const next = () => {
    if (active < n) waiting.shift()?.();
  };
  return <T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      waiting.push(() => {
        active++;
        void task()
          .then(resolve, reject)
          .finally(() => {
            active--;
            next();
          });
      });
      next();
    });
}
