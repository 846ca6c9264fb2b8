// One change at a time per proxy name. Every state change awaits something between checking a
// name and committing (a hostname lookup, a bind, the store's write); two changes of one name
// interleaving there would leave a listener nobody owns, or bring a deleted proxy back. Changes
// of different names still run side by side.

export class NameLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier change of `name` has settled, whether it failed or not. */
  run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(name) ?? Promise.resolve();
    const result = before.then(fn);
    const tail = result.then(() => {}, () => {});
    this.tails.set(name, tail);
    // The map holds only names with a change queued, so it does not grow with every name seen.
    void tail.then(() => { if (this.tails.get(name) === tail) this.tails.delete(name); });
    return result;
  }
}
