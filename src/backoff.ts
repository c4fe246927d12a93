// The delay before the next attempt to reach a store that did not answer.

/** Grows from `first` to `max` ms, doubling; reset() after a success. */
export class Backoff {
  private next: number;
  constructor(
    private readonly first = 100,
    private readonly max = 5000,
  ) {
    this.next = first;
  }

  take(): number {
    const d = this.next;
    this.next = Math.min(this.max, this.next * 2);
    // jitter: emperors that lost etcd together do not all come back in the same millisecond
    return Math.round(d * (0.75 + Math.random() * 0.5));
  }

  reset(): void {
    this.next = this.first;
  }
}
