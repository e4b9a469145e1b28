/**
 * Result batches arriving in any order, handed to `join` in item order.
 * Batches are appended as soon as every earlier one has arrived; only the
 * few that arrive early wait in a map (at most the batches in flight), so
 * each result is held once, never a second time in a final copy.
 */
export class OrderedResults {
  private readonly out: unknown[] = [];
  private readonly early = new Map<number, unknown[]>();

  /** Records the results of items `first .. first + values.length - 1`. */
  add(first: number, values: unknown[]): void {
    if (first !== this.out.length) {
      this.early.set(first, values);
      return;
    }
    let next: unknown[] | undefined = values;
    while (next) {
      for (let i = 0; i < next.length; i++) this.out.push(next[i]);
      next = this.early.get(this.out.length);
      if (next) this.early.delete(this.out.length);
    }
  }

  /** Every result, in item order (all batches must have arrived). */
  toArray(): unknown[] {
    if (this.early.size) throw new Error(`internal: ${this.early.size} result batches arrived but an earlier one is missing`);
    return this.out;
  }
}
