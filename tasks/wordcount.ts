/**
 * Word count, the seed's example, as a fold: one item per document; each
 * batch of documents is counted straight into one count object in the
 * worker (`seed`, then `fold` per document), so no count object per document
 * is ever built or merged; `join` sums the batches' counts. A word is a
 * non-empty piece of `document.split(delimiter)`; Unicode is counted as is.
 */
import { FoldTask } from '../src/index.js';

export interface WordCountInput {
  documents: string[];
  /** Default `" "` (from the schema). */
  delimiter: string;
}

export interface WordCountParams {
  delimiter: string;
}

/** Counts of some documents (or of all of them). */
export type Counts = Record<string, number>;

export interface WordCountOutput {
  word_count: Counts;
}

export default class WordCount extends FoldTask<WordCountInput, string, Counts, WordCountOutput, WordCountParams> {
  static override description = 'Count the words in a list of documents';
  static override schema = 'wordcount';
  /** Its module: threads and workers load it from there when it is run by class (`run(WordCount, …)`, a pipeline's stage). */
  static override module = import.meta.url;
  static override params = ['delimiter'];

  setup(input: WordCountInput): string[] {
    return input.documents;
  }

  /** A batch's counts start empty: a null-prototype object, so a word like "constructor" or "__proto__" is just a word. */
  seed(): Counts {
    return Object.create(null) as Counts;
  }

  /** Adds one document's words to the batch's counts, in place: the pieces between delimiters, empty ones skipped (what `split` gives, without its array). */
  fold(counts: Counts, document: string, { delimiter }: WordCountParams): Counts {
    const step = delimiter.length; // at least 1 (schema)
    let start = 0;
    for (;;) {
      const end = document.indexOf(delimiter, start);
      const stop = end < 0 ? document.length : end;
      if (stop > start) {
        const word = document.slice(start, stop);
        counts[word] = (counts[word] ?? 0) + 1;
      }
      if (end < 0) return counts;
      start = end + step;
    }
  }

  /** Sums batches' counts. */
  combine(parts: Counts[]): Counts {
    return sum(parts);
  }

  join(parts: Counts[]): WordCountOutput {
    return { word_count: sortedByKey(sum(parts)) };
  }
}

/** The counts added up, word by word, into a fresh object. */
function sum(partials: Counts[]): Counts {
  const total = Object.create(null) as Counts;
  for (const counts of partials) {
    for (const word in counts) total[word] = (total[word] ?? 0) + counts[word];
  }
  return total;
}

/** Same counts with keys in code-unit order, so the output is byte-identical on every executor. */
function sortedByKey(counts: Counts): Counts {
  const out = Object.create(null) as Counts;
  for (const key of Object.keys(counts).sort()) out[key] = counts[key];
  return out;
}
