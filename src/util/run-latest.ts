// An RxJS operator: run an async job one at a time; inputs that arrive meanwhile collapse into the latest one.
// A burst therefore costs at most the job in progress plus one more, and no job is cut off halfway.
import { Observable, type OperatorFunction } from "rxjs";

export function runLatest<T, R>(job: (input: T) => Promise<R>): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      let running = false;
      let pending: { value: T } | undefined;
      let sourceDone = false;

      const next = (): void => {
        if (running) return;
        const item = pending;
        if (item === undefined) {
          if (sourceDone) subscriber.complete();
          return;
        }
        pending = undefined;
        running = true;
        job(item.value).then(
          (result) => {
            running = false;
            subscriber.next(result);
            next();
          },
          (error: unknown) => {
            running = false;
            subscriber.error(error);
          },
        );
      };

      const subscription = source.subscribe({
        next: (value) => {
          pending = { value };
          next();
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          if (!running && pending === undefined) subscriber.complete();
        },
      });
      return () => subscription.unsubscribe();
    });
}
