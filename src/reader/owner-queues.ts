// Config reads waiting for a reader, one FIFO per owner (a tyrant vassal's uid), the owners served in turn: one
// owner's burst of slow files waits behind itself, never in front of another owner's vassal.

export class OwnerQueues<T> {
  /** In the order the owners are served next; an owner leaves the map when its queue is empty. */
  private readonly byOwner = new Map<number, T[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(owner: number, item: T): void {
    const q = this.byOwner.get(owner);
    if (q) q.push(item);
    else this.byOwner.set(owner, [item]);
    this.count++;
  }

  /**
   * Items back at the head of their owner's queue, in the order given (taken back from a reader, for another owner):
   * the owner goes to the back of the turn.
   */
  putBack(owner: number, items: readonly T[]): void {
    if (items.length === 0) return;
    const q = this.byOwner.get(owner) ?? [];
    this.byOwner.delete(owner);
    this.byOwner.set(owner, [...items, ...q]);
    this.count += items.length;
  }

  /** The owners with something waiting, the next to be served first. */
  owners(): IterableIterator<number> {
    return this.byOwner.keys();
  }

  /** Up to n of owner's items, oldest first; the owner goes to the back of the turn. */
  take(owner: number, n: number): T[] {
    const q = this.byOwner.get(owner);
    if (!q) return [];
    const taken = q.splice(0, n);
    this.byOwner.delete(owner);
    if (q.length > 0) this.byOwner.set(owner, q);
    this.count -= taken.length;
    return taken;
  }

  /** Everything, emptied. */
  drain(): T[] {
    const all = [...this.byOwner.values()].flat();
    this.byOwner.clear();
    this.count = 0;
    return all;
  }
}
