/** mulberry32: a small deterministic PRNG returning floats in [0, 1). */
export declare function mulberry32(seed: number): () => number;
