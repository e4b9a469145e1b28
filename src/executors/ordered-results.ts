/** Result batches arriving in any order, handed to `join` in item order. */
export class OrderedResults {
  private readonly chunks: { first: number; values: unknown[] }[] = [];

  /** Records the results of items `first .. first + values.length - 1`. */
  add(first: number, values: unknown[]): void {
    this.chunks.push({ first, values });
  }

  /** Every result, in item order. */
  toArray(): unknown[] {
    this.chunks.sort((a, b) => a.first - b.first);
    const out: unknown[] = [];
    for (const c of this.chunks) for (const v of c.values) out.push(v);
    return out;
  }
}
