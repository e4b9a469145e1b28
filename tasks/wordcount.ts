/**
 * Word count, the seed's example: one item per document, counted in parallel,
 * the counts of each batch summed in the worker (`combine`), those sums
 * summed by `join`. A word is a non-empty piece of
 * `document.split(delimiter)`; Unicode is counted as is.
 */
import { ForkJoinTask } from '../src/index.js';

export interface WordCountInput {
  documents: string[];
  /** Default `" "` (from the schema). */
  delimiter: string;
}

export interface WordCountParams {
  delimiter: string;
}

/** Counts of one document (or of all of them). */
export type Counts = Record<string, number>;

export interface WordCountOutput {
  word_count: Counts;
}

export default class WordCount extends ForkJoinTask<WordCountInput, string, Counts, WordCountOutput, WordCountParams> {
  static override description = 'Count the words in a list of documents';
  static override schema = 'wordcount';
  static override params = ['delimiter'];

  setup(input: WordCountInput): string[] {
    return input.documents;
  }

  process(document: string, { delimiter }: WordCountParams): Counts {
    // A null-prototype object: a word like "constructor" or "__proto__" is just a word.
    const counts: Counts = Object.create(null);
    for (const word of document.split(delimiter)) {
      if (word !== '') counts[word] = (counts[word] ?? 0) + 1;
    }
    return counts;
  }

  /** Sums the counts of a batch of documents in the worker, so one count object per batch travels back. */
  override combine(partials: Counts[]): Counts {
    return sum(partials);
  }

  join(partials: Counts[]): WordCountOutput {
    return { word_count: sortedByKey(sum(partials)) };
  }
}

/** The counts added up, word by word. */
function sum(partials: Counts[]): Counts {
  const total: Counts = Object.create(null);
  for (const counts of partials) {
    for (const word in counts) total[word] = (total[word] ?? 0) + counts[word];
  }
  return total;
}

/** Same counts with keys in code-unit order, so the output is byte-identical on every executor. */
function sortedByKey(counts: Counts): Counts {
  const out: Counts = Object.create(null);
  for (const key of Object.keys(counts).sort()) out[key] = counts[key];
  return out;
}
